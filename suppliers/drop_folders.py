"""Where a supplier's drop folder may be: inside the one folder the deployment sets aside for them.

`SUPPLIER_DROP_FOLDER_ROOT` names it; with it unset no drop folder is accepted or polled. A supplier's
`drop_folder` is a folder strictly inside the root, given relative to it (`acme`) or absolute
(`/srv/scm/drop/acme`). Refused, with the reason: a path with a `..` part, a path outside the root,
and a path that is inside the root as written but resolves outside it through a symbolic link. The
check runs when the supplier is saved and again at every poll (a link may be planted later), on the
resolved path, which is the one the poll then reads.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

from suppliers.exceptions import DropFolderRefused


def drop_folder_root() -> Path | None:
    root = settings.SUPPLIER_DROP_FOLDER_ROOT
    return Path(root).resolve() if root else None


def drop_folder_resolve(value: str) -> Path:
    """The folder `value` names, symlinks resolved, checked to lie inside the root. Raises DropFolderRefused."""
    root = drop_folder_root()
    if root is None:
        raise DropFolderRefused(
            "Drop folders are off: set SUPPLIER_DROP_FOLDER_ROOT to the folder they must lie in.", drop_folder=value
        )
    if "\x00" in value:
        raise DropFolderRefused("The drop folder contains a NUL character.", drop_folder=value)
    path = Path(value)
    if ".." in path.parts:
        raise DropFolderRefused(
            f"The drop folder {value!r} contains '..'; name a folder inside {root} directly.", drop_folder=value
        )
    written = Path(os.path.normpath(path if path.is_absolute() else root / path))
    resolved = written.resolve()
    if _strictly_inside(resolved, root):
        return resolved
    as_configured = Path(os.path.abspath(settings.SUPPLIER_DROP_FOLDER_ROOT))
    if _strictly_inside(written, root) or _strictly_inside(written, as_configured):
        raise DropFolderRefused(
            f"The drop folder {value!r} leaves {root} through a symbolic link (it resolves to {resolved}).",
            drop_folder=value,
            resolves_to=str(resolved),
        )
    raise DropFolderRefused(
        f"The drop folder {value!r} is not inside the drop folder root {root}; use a folder within it.",
        drop_folder=value,
        root=str(root),
    )


def _strictly_inside(path: Path, root: Path) -> bool:
    return path != root and path.is_relative_to(root)
