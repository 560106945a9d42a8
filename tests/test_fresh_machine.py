"""README's test command on a machine without the browser: the browser tests are skipped with the
reason (as the PostgreSQL ones are), and fail instead when CI requires them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def run_browser_tests(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ROMANCY_")}
    environ.update(ROMANCY_TEST_CHROMIUM=str(tmp_path / "no-chromium"),
                   ROMANCY_TEST_CHROMEDRIVER=str(tmp_path / "no-chromedriver"), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           str(TESTS / "test_ui_browser.py")], cwd=TESTS.parent, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_browser_tests_are_skipped_with_the_reason_without_chromium(tmp_path: Path) -> None:
    proc = run_browser_tests(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Unable to obtain driver" not in proc.stdout
    assert "error" not in proc.stdout.splitlines()[-1]
    assert f"browser tests need {tmp_path / 'no-chromium'} and {tmp_path / 'no-chromedriver'}" \
           " (Debian: apt-get install chromium chromium-driver)" in proc.stdout
    assert "skipped" in proc.stdout.splitlines()[-1]


def test_ci_turns_a_missing_browser_into_a_failure(tmp_path: Path) -> None:
    proc = run_browser_tests(tmp_path, ROMANCY_TEST_BROWSER_REQUIRED="1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "browser required (ROMANCY_TEST_BROWSER_REQUIRED=1): browser tests need" in proc.stdout
    assert "skipped" not in proc.stdout.splitlines()[-1]
