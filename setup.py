"""Builds the compiled codec only; all metadata is in pyproject.toml.

A failed compile fails the install.  ``MMPFAST_NO_EXTENSIONS=1`` builds the
pure-Python package instead (asked for explicitly, never silently).
"""
import importlib.util
import os

from setuptools import Extension, setup

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("_mmpfast_env", os.path.join(_here, "mmpfast", "_env.py"))
_env = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_env)

ext_modules = []
if not _env.no_extensions():
    from Cython.Build import cythonize

    ext_modules = cythonize(
        [Extension("mmpfast._codec", ["mmpfast/_codec.pyx"], extra_compile_args=["-O2"]),
         Extension("mmpfast._wire", ["mmpfast/_wire.pyx"], extra_compile_args=["-O2"])],
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
        },
    )

setup(ext_modules=ext_modules)
