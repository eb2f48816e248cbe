"""The matching rules shared by every `filters` query: labels and file-tree sizes.

(Decoding the `filters` parameter itself is the API's job: api/params.py.)
"""

import os
from collections.abc import Mapping


def label_matches(labels: Mapping[str, str] | None, item: str) -> bool:
    """`key` means the label is present; `key=value` means it has that value."""
    key, sep, value = item.partition("=")
    labels = labels or {}
    return key in labels and (not sep or labels[key] == value)


def labels_match(labels: Mapping[str, str] | None, wanted: list[str], unwanted: list[str] = ()) -> bool:
    """Docker's `label` (every one must match) and `label!` (none may match) filters."""
    return all(label_matches(labels, item) for item in wanted) and \
        not any(label_matches(labels, item) for item in unwanted)


def tree_size(root: str) -> int:
    """Bytes used by the files under `root`, each hard-linked inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in filenames + dirnames:
            try:
                st = os.lstat(os.path.join(dirpath, entry))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
