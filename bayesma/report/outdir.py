"""A safe output folder: write into a temporary folder, move it into place at the end.

:class:`OutputFolder` protects the user's files and the consistency of a run's outputs:

* the outputs are written into a temporary folder beside the target and moved into
  place only when everything was written, so an interrupted or failed run leaves the
  previous outputs untouched (and no half-written folder);
* a target that holds files bayesma did not write (no manifest, or files the manifest
  does not list) is refused unless ``overwrite=True``; with it, the new files replace
  the ones of the same name and the other files stay;
* outputs of an earlier run (listed in its manifest) never remain beside the new ones;
* a lock file beside the target stops two runs from writing into one folder.

Every folder written carries :data:`MANIFEST`, a small JSON file listing its files.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from bayesma import __version__
from bayesma.errors import BayesmaError

__all__ = ["MANIFEST", "OutputFolder", "OutputFolderError", "read_manifest"]

#: Name of the manifest file that marks a folder as bayesma's output.
MANIFEST = ".bayesma-manifest.json"


class OutputFolderError(BayesmaError):
    """The output folder cannot be used (a file, foreign files, locked by another run)."""


def read_manifest(folder: Path) -> list[str] | None:
    """Relative paths listed in ``folder``'s manifest, or None when there is none."""
    p = Path(folder) / MANIFEST
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        files = data.get("files") if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None
    return [str(f) for f in files] if isinstance(files, list) else None


def _relative_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputFolder:
    """Context manager yielding the temporary folder to write into (see the module).

    Parameters
    ----------
    target : str or Path
        The output folder.
    overwrite : bool
        Allow a target holding files bayesma did not write.
    option : str
        How messages name the folder (``"--out DIR"`` on the command line).
    """

    def __init__(self, target: str | Path, *, overwrite: bool = False,
                 option: str = "output folder") -> None:
        self.target = Path(target)
        self.path = Path(os.path.abspath(self.target))
        self.overwrite = overwrite
        self.option = option
        self.tmp: Path | None = None
        self.lock: Path = self.path.parent / f".{self.path.name}.bayesma.lock"
        self._locked = False
        self.files: list[str] = []

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Raise :class:`OutputFolderError` if the target cannot be used (see the class)."""
        t = self.path
        if t == t.parent:
            raise OutputFolderError(f"{self.option} {self.target}: give a folder below the "
                                    "file-system root")
        if t.exists() and not t.is_dir():
            raise OutputFolderError(f"{self.option} {t} is an existing file, not a folder; "
                                    "give a folder name")
        for parent in t.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise OutputFolderError(f"{self.option} {t}: {parent} is a file, so no "
                                            "folder can be created under it")
                break
        try:
            t.parent.mkdir(parents=True, exist_ok=True)
        except (NotADirectoryError, FileExistsError):
            raise OutputFolderError(f"{self.option} {t}: a part of the path is a file") from None
        self._check_lock()
        if t.is_dir() and not self.overwrite:
            present = [f for f in _relative_files(t) if f != MANIFEST]
            listed = read_manifest(t)
            foreign = present if listed is None else sorted(set(present) - set(listed))
            if foreign:
                shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
                why = ("it is not a bayesma output folder" if listed is None else
                       "it holds files an earlier bayesma run did not write")
                raise OutputFolderError(
                    f"{self.option} {t} is not empty and {why} ({shown}); choose a new "
                    "folder, or pass --overwrite (overwrite=True) to write into it anyway")

    def _check_lock(self) -> bool:
        """Raise if a live run holds the lock; True when a (stale) lock file exists."""
        if not self.lock.exists():
            return False
        try:
            pid = int(self.lock.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = -1
        if _pid_alive(pid):
            raise OutputFolderError(
                f"another bayesma run (pid {pid}) is writing to {self.target}; wait "
                f"for it, or delete {self.lock} if no run is active")
        return True

    def _acquire(self) -> None:
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._check_lock():
                    self.lock.unlink(missing_ok=True)  # stale lock of a run that died
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()}\n")
            self._locked = True
            return
        raise OutputFolderError(f"cannot lock {self.target} ({self.lock})")

    def _release(self) -> None:
        if self._locked:
            self.lock.unlink(missing_ok=True)
            self._locked = False

    # ------------------------------------------------------------------ protocol
    def __enter__(self) -> Path:
        self.check()
        self._acquire()
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.bayesma-tmp-",
                                             dir=self.path.parent))
        except BaseException:
            self._release()
            raise
        return self.tmp

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None and self.tmp is not None:
                self._commit(self.tmp)
        finally:
            if self.tmp is not None and self.tmp.exists():
                shutil.rmtree(self.tmp, ignore_errors=True)
            self._release()

    def _commit(self, tmp: Path) -> None:
        self.files = _relative_files(tmp)
        manifest: dict[str, Any] = {
            "bayesma": __version__, "files": self.files,
            "written": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        t = self.path
        if not t.exists():
            tmp.rename(t)
            return
        present = [f for f in _relative_files(t) if f != MANIFEST]
        listed = read_manifest(t)
        if not present or (listed is not None and set(present) <= set(listed)):
            # empty, or only an earlier run's outputs: swap the folders
            old = t.parent / f".{t.name}.bayesma-old-{os.getpid()}"
            t.rename(old)
            try:
                tmp.rename(t)
            except BaseException:
                old.rename(t)
                raise
            shutil.rmtree(old, ignore_errors=True)
            return
        # overwrite=True on a folder with other files: replace ours, keep theirs
        for rel in listed or []:
            if rel not in self.files:
                (t / rel).unlink(missing_ok=True)
        for rel in [*self.files, MANIFEST]:
            dest = t / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, dest)
