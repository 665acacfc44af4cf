"""Sphinx configuration of the mmpfast documentation.

Build (from a folder that is not the repository root, so that ``import mmpfast``
finds the installed package and its compiled codec, not the source folder)::

    pip install ".[docs]"
    cd /tmp && python -m sphinx -W -b html /path/to/repo/docs /tmp/html

Nothing here touches ``sys.path``: autodoc documents whatever ``import mmpfast``
finds, which is the point (the API pages are read from the installed package,
``mmpfast._codec`` included).  Only Sphinx and myst-parser are used; the theme
is Sphinx's built-in alabaster, with no web assets fetched at build or view time.
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import os
import re
import tokenize
from typing import Any, Dict, List

from docutils.statemachine import StringList

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

import mmpfast
import mmpfast.codec

logger = logging.getLogger(__name__)

# Say which package autodoc reads: CI checks this is the installed one.
print(f"mmpfast {mmpfast.__version__} from {os.path.dirname(mmpfast.__file__)}; "
      f"codec {mmpfast.codec.IMPLEMENTATION}")
if os.environ.get("MMPFAST_DOCS_REQUIRE_INSTALLED") == "1":
    if "site-packages" not in mmpfast.__file__:
        raise RuntimeError(f"documenting {mmpfast.__file__}, not an installed mmpfast")
    if mmpfast.codec.IMPLEMENTATION != "cython":
        raise RuntimeError("documenting the pure-Python codec: the compiled one is not importable")

# -- project -----------------------------------------------------------------------------------
project = "mmpfast"
author = "mmpfast developers"
copyright = "mmpfast developers"
release = mmpfast.__version__
version = ".".join(release.split(".")[:2])

# -- general -----------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# Only pages are sources: images (benchmarks.png, panel.png) are pulled in where a page shows
# them; anything else that may sit in docs/ is kept out of the build.
exclude_patterns = [
    "_build", "html", ".venv", "**/.ipynb_checkpoints", "README.md", "*.png", "*.svg", "*.txt",
]
templates_path: List[str] = []
language = "en"
# Every cross-reference must resolve. There is no intersphinx (the build is offline), so the
# standard-library types that type hints name are listed here, and nothing else.
nitpicky = True
nitpick_ignore = [
    ("py:class", "array"),                                  # array.array, as hints print it
    ("py:class", "asyncio.transports.BaseTransport"),
    ("py:class", "asyncio.transports.DatagramTransport"),
    ("py:class", "asyncio.queues.Queue"),
    ("py:class", "argparse.ArgumentParser"),
    ("py:class", "argparse.Namespace"),
]

# -- autodoc -----------------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options: Dict[str, Any] = {}
autoclass_content = "both"      # class docstring + __init__ docstring (Cython Frame has the signature)

# -- MyST --------------------------------------------------------------------------------------
myst_heading_anchors = 3
myst_enable_extensions: List[str] = []

# -- HTML --------------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"mmpfast {release}"
html_static_path: List[str] = []
html_theme_options = {
    "description": "Fast, correct OptoMMP for Python",
    "fixed_sidebar": True,
    "page_width": "1180px",     # room for the CLI's 100-column help text
}
html_show_sourcelink = False


# -- the CLI's own help text, taken from the installed command line ---------------------------
class CliHelp(SphinxDirective):
    """``.. mmpfast-help:: [command]``: the output of ``mmpfast [command] --help``.

    Runs the installed command line in-process (``mmpfast.cli.main``) with a fixed
    width of 100 columns, so the page shows exactly what a user sees.  A command
    that does not exist, or help that does not exit 0, is a build warning.
    """

    optional_arguments = 1
    final_argument_whitespace = True
    has_content = False

    def run(self) -> List[nodes.Node]:
        from mmpfast.cli import main

        argv = self.arguments[0].split() if self.arguments else []
        out, err = io.StringIO(), io.StringIO()
        saved = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "100"
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main([*argv, "--help"])
                except SystemExit as exc:       # pragma: no cover - main returns its status
                    code = exc.code if isinstance(exc.code, int) else 1
        finally:
            if saved is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = saved
        text = out.getvalue().rstrip() + "\n"
        if code != 0 or not out.getvalue().strip():
            logger.warning("mmpfast %s --help exited %s: %s", " ".join(argv), code,
                           err.getvalue().strip(), location=self.get_location())
            return []
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


# -- modules of constants: every public top-level name, in source order ------------------------
_RUBRIC_DASHES = re.compile(r"^# -{2,} (.+?) -{2,}$")
_RUBRIC_RULE = re.compile(r"^# ={5,}$")


def _escape(text: str) -> str:
    """A source comment as plain reST text (no accidental markup)."""
    text = re.sub(r"([\\*`|_\[\]])", r"\\\1", text)
    if re.match(r"([+-]|\d+[.)])(\s|$)", text):      # not a list item
        text = "\\" + text
    return text


def _module_entries(module: str) -> List[str]:
    """reST for every public top-level name of a module's source, constants included.

    Functions and classes go to autodoc; each constant becomes a ``py:data`` entry with its
    value as written in the source and its ``#:`` comment (or its trailing ``#`` comment).
    Section comments (``# --- title ---``, or a title between two ``# ====`` rules) become
    rubrics.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise ValueError(f"no Python source for {module}")
    with open(spec.origin, encoding="utf-8") as f:
        source = f.read()
    lines = source.splitlines()
    tree = ast.parse(source, spec.origin)
    comments: Dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string
    rubrics: Dict[int, str] = {}
    for i, line in enumerate(lines, 1):
        m = _RUBRIC_DASHES.match(line)
        if m:
            rubrics[i] = m.group(1)
        elif (_RUBRIC_RULE.match(line) and i + 1 < len(lines)
              and _RUBRIC_RULE.match(lines[i + 1]) and lines[i].startswith("# ")):
            rubrics[i + 1] = lines[i][2:].strip()
    out = [f".. automodule:: {module}", "", f".. py:currentmodule:: {module}", ""]
    last = 0
    seen: List[str] = []
    for node in tree.body:
        for ln in sorted(r for r in rubrics if last < r < node.lineno):
            out += [f".. rubric:: {_escape(rubrics[ln])}", ""]
        last = getattr(node, "end_lineno", node.lineno) or node.lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if not node.name.startswith("_"):
                out += [f".. autofunction:: {module}.{node.name}", ""]
            continue
        if isinstance(node, ast.ClassDef):
            if not node.name.startswith("_"):
                out += [f".. autoclass:: {module}.{node.name}", "   :members:", "   :undoc-members:", ""]
            continue
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name) or target.id.startswith("_") or target.id in seen:
            continue
        seen.append(target.id)
        text = ast.get_source_segment(source, value) or ""
        out.append(f".. py:data:: {target.id}")
        if "\n" not in text and len(text) <= 60:
            out.append(f"   :value: {text}")
        out.append("")
        doc: List[str] = []
        ln = node.lineno - 1
        while ln >= 1 and lines[ln - 1].lstrip().startswith("#:"):
            doc.insert(0, lines[ln - 1].lstrip()[2:].strip())
            ln -= 1
        if not doc and node.lineno in comments:
            doc = [_escape(comments[node.lineno].lstrip("#").strip())]
        out += ["   " + d for d in doc] + [""]
    return out


class AllMembers(SphinxDirective):
    """``.. mmpfast-automodule:: mmpfast.memmap``: a module of constants, every name shown.

    ``automodule :members:`` leaves out constants that have no ``#:`` comment, which in
    ``memmap`` and ``protocol`` is most of the memory map; this lists them all.
    """

    required_arguments = 1
    has_content = False

    def run(self) -> List[nodes.Node]:
        module = self.arguments[0]
        try:
            entries = _module_entries(module)
        except (ImportError, ValueError, SyntaxError) as exc:
            logger.warning("mmpfast-automodule %s: %s", module, exc, location=self.get_location())
            return []
        source, line = self.get_source_info()
        content = StringList()
        for text in entries:
            content.append(text, source, line)
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(content, self.content_offset, node)
        return list(node.children)


# -- every "§n" that the code and the README cite must exist in protocol.md --------------------
_CITATION = re.compile(r"§(\d+(?:\.\d+)?)(?:\s+Q(\d+))?")
_CITING = ("README.md", "mmpfast", "examples", "tools")


def _check_citations(app: Sphinx, env: Any) -> None:
    """Warn for a "§n", "§n.m" or "§7 Qn" cited in the repository that protocol.md lacks.

    Reads the text files of the repository that holds this ``docs/`` folder (when the
    folder is not inside a repository, there is nothing to check).  Labels in
    protocol.md are ``(proto-3-5)=`` for §3.5 and ``(proto-7-q5)=`` for §7 Q5.
    """
    with open(os.path.join(app.confdir, "protocol.md"), encoding="utf-8") as f:
        labels = set(re.findall(r"^\(([a-z0-9-]+)\)=$", f.read(), re.MULTILINE))
    root = os.path.dirname(os.path.abspath(app.confdir))
    paths: List[str] = []
    for name in _CITING:
        top = os.path.join(root, name)
        if os.path.isfile(top):
            paths.append(top)
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if not d.startswith((".", "_", "build"))]
            paths += [os.path.join(folder, f) for f in sorted(files)
                      if f.endswith((".py", ".pyx", ".pyi", ".md", ".sh"))]
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                for m in _CITATION.finditer(line):
                    label = "proto-" + m.group(1).replace(".", "-")
                    if m.group(2):
                        label += f"-q{m.group(2)}"
                    if label not in labels:
                        logger.warning("%s cites %s, which docs/protocol.md does not have",
                                       os.path.relpath(path, root), m.group(0),
                                       location=f"{path}:{number}")


def setup(app: Sphinx) -> Dict[str, Any]:
    app.add_directive("mmpfast-help", CliHelp)
    app.add_directive("mmpfast-automodule", AllMembers)
    app.connect("env-check-consistency", _check_citations)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
