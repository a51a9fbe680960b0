"""facenet.data.files: the image files of a root/<identity>/<image> folder."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from facenet.data.files import IMAGE_EXTENSIONS, iter_images


def test_lists_images_of_identity_folders_in_order(tmp_path):
    for rel in ["b/2.jpg", "b/1.PNG", "a/x.jpeg", "a/.hidden.jpg", "a/notes.txt", ".cache/c.jpg",
                "a/deeper/y.jpg", "top.jpg", "c/z.webp"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    (tmp_path / "a" / "folder.jpg").mkdir()  # a directory named like an image is not a file
    got = [p.relative_to(tmp_path).as_posix() for p in iter_images(tmp_path)]
    assert got == ["a/x.jpeg", "b/1.PNG", "b/2.jpg", "c/z.webp"]
    assert [p.relative_to(tmp_path).as_posix() for p in iter_images(str(tmp_path))] == got  # str roots too


def test_extensions_are_lower_case_and_dotted():
    assert {".jpg", ".jpeg", ".png"} <= set(IMAGE_EXTENSIONS)
    assert all(e.startswith(".") and e == e.lower() for e in IMAGE_EXTENSIONS)


def test_empty_root_lists_nothing(tmp_path):
    assert list(iter_images(tmp_path)) == []


@pytest.mark.parametrize("module", ["files", "folder", "sampler", "images"])
def test_data_modules_do_not_import_align(module):
    """facenet.data sits below facenet.align (``import facenet`` itself loads align through the
    pipeline, so the imports are read from the source)."""
    import facenet.data

    path = Path(facenet.data.__file__).parent / f"{module}.py"
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not {m for m in imported if m == "facenet.align" or m.startswith("facenet.align.")}, imported
