"""Locates the shared scanner corpus beside the repository (``../shared/fixtures/scans``)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCANS_DIR = REPO_ROOT.parent / "shared" / "fixtures" / "scans"


@pytest.fixture(scope="session")
def scans_dir() -> Path:
    """The corpus folder; skips the test when the shared corpus is not checked out."""
    if not SCANS_DIR.is_dir():
        pytest.skip(
            "../shared/fixtures/scans not found: "
            "corpus tests need the shared corpus beside the repo"
        )
    return SCANS_DIR
