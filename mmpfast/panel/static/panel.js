// mmpfast rack panel: draws the rack from the server's "hello" and applies each
// "update" in place.  DOM hooks (a fixed contract): data-module, data-channel,
// data-kind, data-value on every channel cell; data-action on controls;
// data-role="status" for the state and the achieved rate.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const KIND_NAMES = { di: "digital in", do: "digital out", ai: "analog in", ao: "analog out", unknown: "module" };
  const TREND = 48;              // values kept per analog trend

  let ws = null;
  let retry = 250;
  let layoutKey = "";
  let info = null;               // the last hello
  let status = { state: "connecting" };
  let notice = null;             // {text, until}
  let nextId = 1;
  const cells = new Map();       // key -> {cell, kind, ...}
  const counters = new Map();    // "n:M:C" -> element
  const trends = new Map();      // "a:M:C" -> {canvas, values}
  const dirty = new Set();
  const modules = new Map();     // module index -> column element
  const scratch = new Map();     // "si:I"/"sf:I" -> td
  const pending = new Map();     // write id -> {cell, text}

  // ------------------------------------------------------------------ numbers
  function fmt(text) {
    const x = Number(text);
    if (!Number.isFinite(x)) return text;
    if (x === 0) return "0";
    const f = Math.fround(x);
    for (let p = 1; p <= 9; p++) {
      const s = f.toPrecision(p);
      if (Math.fround(Number(s)) === f) {
        const n = Number(s);
        const a = Math.abs(n);
        return (a >= 1e7 || a < 1e-4) ? n.toExponential(Math.max(0, p - 1)) : String(n);
      }
    }
    return String(f);
  }

  // ------------------------------------------------------------------ status bar
  function drawStatus() {
    const box = $('[data-role="status"]');
    let text = status.state;
    let state = status.state.startsWith("error") ? "error" : status.state;
    if (status.state === "live" || status.state.startsWith("error")) {
      text += " \u00b7 " + (status.rate || 0).toFixed(1) + " Hz";
      if (status.target) text += " (target " + status.target + ")";
    }
    if (notice && notice.until > Date.now()) text += " \u00b7 " + notice.text;
    box.textContent = text;
    box.dataset.state = state;
    box.title = text;
    const foot = $('[data-role="foot"]');
    if (status.points !== undefined) {
      $(".stats", foot).textContent = status.points + " points in " + status.requests + " request(s) per pass \u00b7 " +
        status.ok + " passes ok, " + status.errors + " failed";
    }
  }

  function setNotice(text) {
    notice = { text: text, until: Date.now() + 6000 };
    drawStatus();
    setTimeout(drawStatus, 6100);
  }

  // ------------------------------------------------------------------ building the rack
  function control(tag, action) {     // a control finds its point through its .cell
    const b = el(tag, "ctl");
    b.dataset.action = action;
    return b;
  }

  function newCell(cls, mod, c, kind, value) {   // a point's cell: where controls find it
    const cell = el("div", "cell " + cls);
    cell.dataset.module = mod.index;
    cell.dataset.channel = c;
    cell.dataset.kind = kind;
    cell.dataset.value = value;
    return cell;
  }

  function digitalCell(mod, c, writable, sim) {
    const cell = newCell("dig", mod, c, "digital", "0");
    let lamp;
    if (sim && mod.kind === "di") {
      lamp = control("button", "sim-set");
      lamp.title = "set input M" + mod.index + " ch " + c;
    } else if (writable && (mod.kind === "do" || mod.kind === "unknown")) {
      lamp = control("button", "toggle");
      lamp.title = "toggle output M" + mod.index + " ch " + c;
    } else {
      lamp = el("span");
      lamp.title = "M" + mod.index + " ch " + c;
    }
    lamp.classList.add("lamp");
    lamp.textContent = c;
    cell.appendChild(lamp);
    if (mod.kind === "di" || mod.kind === "do") {
      const cnt = el("span", "count", "");
      cell.appendChild(cnt);
      counters.set("n:" + mod.index + ":" + c, cnt);
    }
    if (sim && mod.kind === "di") {
      const p = control("button", "sim-pulse");
      p.classList.add("pulse");
      p.textContent = "+1";
      p.title = "pulse: one rising and one falling edge (counts, sets both latches)";
      cell.appendChild(p);
    }
    cells.set("d:" + mod.index + ":" + c, { cell: cell, kind: "digital" });
    return cell;
  }

  function analogCell(mod, c, writable, sim) {
    const cell = newCell("ana", mod, c, "analog", "0.0");
    const value = el("span", "value", "0");
    const canvas = el("canvas", "trend");
    canvas.width = 56;
    canvas.height = 18;
    cell.appendChild(value);
    cell.appendChild(canvas);
    let input = null;
    if (sim && mod.kind === "ai") input = control("input", "sim-set");
    else if (writable && (mod.kind === "ao" || mod.kind === "unknown")) input = control("input", "set");
    if (input) {
      input.type = "text";
      input.inputMode = "decimal";
      input.placeholder = mod.kind === "ai" ? "set" : "write";
      input.title = "type a value, Enter to apply";
      input.autocomplete = "off";
      cell.appendChild(input);
    }
    const key = "a:" + mod.index + ":" + c;
    cells.set(key, { cell: cell, kind: "analog", value: value });
    trends.set(key, { canvas: canvas, values: [] });
    return cell;
  }

  function build(hello) {
    const rack = $('[data-role="rack"]');
    rack.textContent = "";
    cells.clear(); counters.clear(); trends.clear(); modules.clear(); scratch.clear(); dirty.clear();
    const lay = hello.layout;
    const writable = hello.writable;
    const sim = hello.sim;
    for (const mod of lay.modules) {
      const col = el("div", "module kind-" + mod.kind);
      col.dataset.moduleIndex = mod.index;
      const head = el("div", "mhead");
      head.appendChild(el("span", "mnum", "M" + mod.index));
      head.appendChild(el("span", "mkind", (mod.kind === "unknown" ? "" : mod.kind.toUpperCase() + " ") +
        mod.channels + " ch"));
      head.title = KIND_NAMES[mod.kind];
      col.appendChild(head);
      if (mod.kind === "di" || mod.kind === "do") {
        const grid = el("div", "dgrid");
        for (let c = 0; c < mod.channels; c++) grid.appendChild(digitalCell(mod, c, writable, sim));
        col.appendChild(grid);
      } else if (mod.kind === "ai" || mod.kind === "ao") {
        const list = el("div", "alist");
        for (let c = 0; c < mod.channels; c++) {
          const row = el("div", "arow");
          row.appendChild(el("span", "ch", String(c)));
          row.appendChild(analogCell(mod, c, writable, sim));
          list.appendChild(row);
        }
        col.appendChild(list);
      } else {
        const list = el("div", "alist");
        for (let c = 0; c < mod.channels; c++) {
          const row = el("div", "arow both");
          row.appendChild(digitalCell(mod, c, writable, sim));
          row.appendChild(analogCell(mod, c, writable, sim));
          list.appendChild(row);
        }
        col.appendChild(list);
      }
      rack.appendChild(col);
      modules.set(mod.index, col);
    }
    const sp = $('[data-role="scratchpad"]');
    const body = $("tbody", sp);
    body.textContent = "";
    sp.hidden = !lay.scratchpad;
    for (let i = 0; i < lay.scratchpad; i++) {
      const tr = el("tr");
      tr.appendChild(el("th", "", String(i)));
      for (const k of ["si", "sf"]) {
        const td = el("td", "num", "0");
        td.dataset.value = k === "sf" ? "0.0" : "0";
        td.dataset.index = i;
        td.dataset.kind = k === "si" ? "int32" : "float";
        tr.appendChild(td);
        scratch.set(k + ":" + i, td);
      }
      body.appendChild(tr);
    }
    $('[data-role="title"]').textContent = hello.title;
    document.title = hello.title + " \u2014 mmpfast panel";
    const mode = $('[data-role="mode"]');
    mode.textContent = sim ? "simulator" : (writable ? "writes allowed" : "read-only");
    mode.dataset.mode = sim ? "sim" : (writable ? "writable" : "readonly");
  }

  // ------------------------------------------------------------------ applying values
  function maskApply(m, bits, cls) {
    const col = modules.get(m);
    if (!col) return;
    for (const cell of col.querySelectorAll('.cell[data-kind="digital"]')) {
      const c = Number(cell.dataset.channel);
      cell.classList.toggle(cls, c < 32 && ((bits >>> c) & 1) === 1);
    }
  }

  function apply(changes) {
    for (const [key, v] of changes) {
      const head = key.charAt(0);
      if (head === "d") {
        const h = cells.get(key);
        if (!h) continue;
        h.cell.dataset.value = v ? "1" : "0";
        h.cell.classList.toggle("on", !!v);
      } else if (head === "a") {
        const h = cells.get(key);
        if (!h) continue;
        h.cell.dataset.value = String(v);
        h.value.textContent = fmt(v);
        const t = trends.get(key);
        if (!t.values.length) for (let i = 1; i < TREND; i++) t.values.push(Number(v));   // flat until it moves
        t.values.push(Number(v));
        if (t.values.length > TREND) t.values.shift();
        dirty.add(key);
      } else if (head === "n") {
        const e = counters.get(key);
        if (e) { e.textContent = v ? String(v) : ""; e.title = "counter " + v; }
      } else if (key.startsWith("lo:")) {
        maskApply(Number(key.slice(3)), v, "latch-on");
      } else if (key.startsWith("lf:")) {
        maskApply(Number(key.slice(3)), v, "latch-off");
      } else if (key.startsWith("qm:")) {
        maskApply(Number(key.slice(3)), v, "bad");
      } else if (key === "mq") {
        for (const [m, col] of modules) {
          const bit = m < 32 ? ((v >>> m) & 1) : 0;
          col.classList.toggle("absent", bit === 1);
        }
      } else if (head === "s") {
        const td = scratch.get(key);
        if (!td) continue;
        td.dataset.value = String(v);
        td.textContent = key.charAt(1) === "f" ? fmt(v) : String(v);
      }
    }
    if (dirty.size) requestAnimationFrame(drawTrends);
  }

  function drawTrends() {
    for (const key of dirty) {
      const t = trends.get(key);
      if (!t) continue;
      const cv = t.canvas, ctx = cv.getContext("2d"), vs = t.values.filter(Number.isFinite);
      ctx.clearRect(0, 0, cv.width, cv.height);
      if (vs.length < 2) continue;
      let lo = Math.min(...vs), hi = Math.max(...vs);
      if (hi === lo) { hi += 1; lo -= 1; }       // a flat trend sits in the middle
      const step = (cv.width - 2) / (TREND - 1);
      const x0 = cv.width - 1 - step * (vs.length - 1);
      ctx.beginPath();
      vs.forEach((v, i) => {
        const x = x0 + i * step, y = cv.height - 2 - (v - lo) / (hi - lo) * (cv.height - 4);
        if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      });
      ctx.strokeStyle = "#3b82f6";
      ctx.lineWidth = 1.25;
      ctx.stroke();
    }
    dirty.clear();
  }

  // ------------------------------------------------------------------ actions
  function send(msg, cell) {
    if (!ws || ws.readyState !== WebSocket.OPEN) { setNotice("not connected: nothing sent"); return; }
    msg.id = nextId++;
    pending.set(msg.id, { cell: cell, text: describe(msg) });
    if (cell) cell.classList.add("pending");
    ws.send(JSON.stringify(msg));
  }

  function describe(msg) {
    const what = msg.type === "write" ? "write" : msg.type;
    const v = msg.value === undefined ? "" : " = " + msg.value;
    return what + " M" + msg.module + " ch " + msg.channel + v;
  }

  function onResult(r) {
    const p = pending.get(r.id);
    pending.delete(r.id);
    if (p && p.cell) p.cell.classList.remove("pending");
    const what = p ? p.text : (r.action || "message");
    let text;
    if (r.outcome === "acknowledged") text = what + ": acknowledged";
    else if (r.outcome === "nak") text = what + ": NAK " + r.code + " (" + r.message + ")";
    else if (r.outcome === "unknown") text = what + ": outcome unknown (" + r.message + ")";
    else text = what + ": " + r.outcome + " (" + r.message + ")";
    const li = el("li", "out-" + r.outcome, text);
    li.dataset.outcome = r.outcome;
    const log = $('[data-role="writes"]');
    log.insertBefore(li, log.firstChild);
    while (log.children.length > 12) log.removeChild(log.lastChild);
    if (r.outcome !== "acknowledged") setNotice(text);
  }

  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b || b.disabled) return;
    const cell = b.closest(".cell");
    const m = Number(cell.dataset.module), c = Number(cell.dataset.channel);
    if (b.dataset.action === "toggle" || b.dataset.action === "sim-set") {
      const now = cell.dataset.value === "1" ? 1 : 0;
      send({ type: b.dataset.action === "toggle" ? "write" : "sim-set", kind: "digital", module: m, channel: c,
             value: 1 - now }, cell);
    } else if (b.dataset.action === "sim-pulse") {
      send({ type: "sim-pulse", kind: "digital", module: m, channel: c }, cell);
    }
  });

  document.addEventListener("keydown", (ev) => {
    const i = ev.target;
    if (ev.key !== "Enter" || !(i instanceof HTMLInputElement) || !i.dataset.action) return;
    const text = i.value.trim();
    const v = Number(text);
    if (text === "" || !Number.isFinite(v)) { setNotice("not a number: " + JSON.stringify(text)); return; }
    const cell = i.closest(".cell");
    send({ type: i.dataset.action === "set" ? "write" : "sim-set", kind: "analog",
           module: Number(cell.dataset.module), channel: Number(cell.dataset.channel), value: v }, cell);
    i.value = "";
    i.blur();
  });

  // ------------------------------------------------------------------ connection
  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const sock = new WebSocket(proto + location.host + "/ws");
    ws = sock;
    sock.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "hello") {
        retry = 250;
        const key = JSON.stringify([msg.layout, msg.writable, msg.sim, msg.title]);
        if (key !== layoutKey) { build(msg); layoutKey = key; }
        info = msg;
        apply(msg.changes);
        status = msg.status;
        drawStatus();
      } else if (msg.type === "update") {
        apply(msg.changes);
        if (msg.status) { status = msg.status; drawStatus(); }
      } else if (msg.type === "result") {
        onResult(msg);
      }
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      for (const [, p] of pending) if (p.cell) p.cell.classList.remove("pending");
      pending.clear();
      status = { state: "reconnecting", points: status.points, requests: status.requests, ok: status.ok,
                 errors: status.errors };
      drawStatus();
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 2000);
    };
  }

  connect();
})();
