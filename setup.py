"""Wheel layout: what ships besides the ``pytest_release`` package, and under which name.

The repository keeps the release suite and the examples at top level (where a reader of the
checkout looks for them); the wheel carries them inside the package, and
:mod:`pytest_release.bundled` finds them in either place:

=============================  ================================  ==============================
in the repository              in the wheel                      found by
=============================  ================================  ==============================
``tests_release/``             ``pytest_release/suite/``         ``bundled.suite_path()``
``examples/`` (all of it but   ``pytest_release/examples/``      ``bundled.examples_path(...)``
the service's sources)
``examples/feedback_service``  ``feedback_service`` (top level)  ``import feedback_service``
=============================  ================================  ==============================

Everything else (name, version, dependencies, entry points) is declared in ``pyproject.toml``;
setuptools reads only the package list and the data rules from here, because a ``package-dir``
mapping cannot be combined with automatic package discovery in ``pyproject.toml``.
"""
from __future__ import annotations

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["pytest_release", "pytest_release.*"]),
        "pytest_release.suite",
        "pytest_release.examples",
        "feedback_service",
    ],
    package_dir={
        "pytest_release.suite": "tests_release",
        "pytest_release.examples": "examples",
        "feedback_service": "examples/feedback_service",
    },
    package_data={
        "pytest_release": ["py.typed"],
        # Every example file, in any examples/<topic>/ folder a later change adds.
        "pytest_release.examples": ["*", "**/*"],
        "feedback_service": ["README.md"],
    },
    exclude_package_data={
        # The service ships once, as the importable ``feedback_service`` package.
        "pytest_release.examples": ["feedback_service/*", "**/__pycache__/*", "**/*.pyc"],
    },
    include_package_data=False,
)
