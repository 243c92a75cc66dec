"""The files `gradwatch check` reads and `--fix` writes: only regular files inside the
paths given, read within the size limit; fixes keep links, owner and permissions, leave
read-only files alone and leave no temporary file behind when the run is killed."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from gradwatch.checker import MAX_FILE_BYTES, UnreadableFile, read_python_file
from gradwatch.cli import main

SERVER = Path(__file__).resolve().parents[1] / "server"
POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="symlinks, FIFOs and devices as on POSIX")

# GW203 with a safe fix: `y.add_(x)` becomes `y = y + x`.
FIXABLE = "import torch\nx = torch.randn(3, requires_grad=True)\ny = x * 2\ny.add_(x)\ny.sum().backward()\n"
FIXED_LINE = "y = y + x\n"
# GW101: reported, nothing to fix.
FINDING = "import torch\nx = torch.randn(3, requires_grad=True)\ny = x.detach()\ny.sum().backward()\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The working folder: a project (its own pyproject.toml) inside tmp_path, so that
    tmp_path itself is "outside the checked folder"."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'sample'\n")
    monkeypatch.chdir(root)
    monkeypatch.setenv("NO_COLOR", "1")
    return root


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["check", "--no-cross-module", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_subprocess(*args: str, cwd: Path, timeout: float = 60, memory_limit: int | None = None):
    """The CLI in its own process: a hang or a memory blow-up must fail the test, not the suite."""

    def limit_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    return subprocess.run(
        [sys.executable, "-m", "gradwatch", "check", "--no-cross-module", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(SERVER), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit_memory if memory_limit else None,
    )


def temporary_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".gradwatch"))


# ---------------------------------------------------------------- symlinks


@POSIX_ONLY
def test_fix_does_not_write_through_a_symlink_that_leads_out_of_the_checked_folder(project, capsys):
    victim = project.parent / "outside" / "victim.py"
    victim.parent.mkdir()
    victim.write_text(FIXABLE)
    (project / "link.py").symlink_to(victim)
    (project / "model.py").write_text(FINDING)
    code, out, err = run(capsys, "--fix", ".")
    assert victim.read_text() == FIXABLE
    assert f"link.py: skipped: symbolic link to {victim}, outside the paths being checked" in err.splitlines()
    assert code == 1 and out.startswith("model.py:4:")  # the other file is checked as usual
    assert "link.py:" not in out


@POSIX_ONLY
def test_a_symlink_loop_is_reported_and_the_run_goes_on(project, capsys):
    (project / "loop.py").symlink_to(project / "loop.py")
    (project / "model.py").write_text(FINDING)
    code, out, err = run(capsys, ".")
    assert code == 1 and out.startswith("model.py:4:")
    assert err.splitlines() == ["loop.py: skipped: broken symbolic link"]


@POSIX_ONLY
def test_a_symlink_to_dev_zero_is_skipped_and_every_other_file_is_checked(project):
    (project / "zero.py").symlink_to("/dev/zero")
    (project / "model.py").write_text(FINDING)
    # Reading /dev/zero whole would eat memory until MemoryError: the limit makes that quick.
    result = run_subprocess(".", cwd=project, memory_limit=1024 * 1024 * 1024)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("model.py:4:")
    skipped = "zero.py: skipped: symbolic link to /dev/zero, outside the paths being checked"
    assert result.stderr.splitlines() == [skipped]


@POSIX_ONLY
def test_dev_zero_named_explicitly_is_refused_unread(project):
    (project / "zero.py").symlink_to("/dev/zero")
    (project / "model.py").write_text(FINDING)
    result = run_subprocess("zero.py", "model.py", cwd=project, memory_limit=1024 * 1024 * 1024)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("model.py:4:")
    assert result.stderr.splitlines() == ["zero.py: skipped: not a regular file (a character device)"]


# ---------------------------------------------------------------- FIFOs and size


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX feature")
def test_a_fifo_named_py_is_skipped_not_waited_for(project):
    os.mkfifo(project / "pipe.py")
    (project / "model.py").write_text(FINDING)
    try:
        result = run_subprocess(".", cwd=project, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("gradwatch waited for a writer on pipe.py")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("model.py:4:")
    assert result.stderr.splitlines() == ["pipe.py: skipped: not a regular file (a FIFO)"]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.py"
    with open(big, "wb") as stream:
        stream.truncate(16 * MAX_FILE_BYTES)  # sparse: no disk used, 8 MiB if read
    tracemalloc.start()
    try:
        with pytest.raises(UnreadableFile, match="skipped: larger than 512 KiB"):
            read_python_file(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_FILE_BYTES


# ---------------------------------------------------------------- writing fixes


def test_fix_leaves_a_read_only_file_alone_with_a_message(project, capsys):
    path = project / "legal.py"
    path.write_text(FIXABLE)
    path.chmod(0o444)
    code, out, err = run(capsys, "--fix")
    assert path.read_text() == FIXABLE
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert err.splitlines() == ["legal.py: read-only, fixes not written", "Fixed 0 findings in 0 files."]
    assert code == 1 and out.startswith("legal.py:4:")  # still there, and not an error of the run


@POSIX_ONLY
def test_fix_keeps_hard_links_together(project, capsys):
    path = project / "src" / "legal.py"
    path.parent.mkdir()
    path.write_text(FIXABLE)
    alias = project.parent / "alias.py"  # another name for the same file, outside the check
    os.link(path, alias)
    code, _, _ = run(capsys, "--fix", "src")
    assert code == 0
    assert FIXED_LINE in path.read_text()
    assert alias.read_text() == path.read_text()
    assert os.path.samefile(path, alias) and path.stat().st_nlink == 2


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a file away")
def test_fix_run_as_root_keeps_the_files_owner(project, capsys):
    path = project / "legal.py"
    path.write_text(FIXABLE)
    os.chown(path, 4321, 4322)
    path.chmod(0o664)
    assert run(capsys, "--fix")[0] == 0
    assert FIXED_LINE in path.read_text()
    info = path.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (4321, 4322, 0o664)


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="POSIX signals")
def test_fix_killed_while_writing_leaves_the_file_and_no_temporary_file(project):
    path = project / "legal.py"
    path.write_text(FIXABLE)
    # `kill` arrives while the fixed text is being written to its temporary file.
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        from gradwatch.cli import main

        def killed_while_syncing(fd):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)

        os.fsync = killed_while_syncing
        sys.exit(main(["check", "--no-cross-module", "--fix", "legal.py"]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(SERVER)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (128 + signal.SIGTERM, -signal.SIGTERM)
    assert path.read_text() == FIXABLE
    assert temporary_files(project) == []
