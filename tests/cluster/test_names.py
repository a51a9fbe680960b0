"""Cluster names: carried to the new cluster sharing the most faces, kept on disk, safe folders."""

from __future__ import annotations

import pytest

from facenet.cluster.names import (
    NamedFaces,
    carry_names,
    check_cluster_name,
    folder_names,
    give_name,
    load_names,
    safe_folder,
    save_names,
)
from facenet.errors import DataError


def test_carry_names_by_largest_overlap_one_to_one():
    ada = NamedFaces("Ada", {"a1", "a2", "a3"})
    bob = NamedFaces("Bob", {"b1", "b2"})
    gone = NamedFaces("Gone", {"z1"})
    clusters = {1: {"a1", "a2", "b1", "n1"}, 2: {"a3", "b2"}, 3: {"n2"}}
    got = carry_names([ada, bob, gone], clusters)
    # Ada shares 2 faces with cluster 1 (the largest overlap): Ada -> 1; Bob then takes 2 (1 face)
    assert {cid: e.name for cid, e in got.items()} == {1: "Ada", 2: "Bob"}
    assert ada.faces == clusters[1] and bob.faces == clusters[2]  # the names follow their clusters
    assert gone.faces == {"z1"}  # unmatched: kept as it was, for a later run


def test_carry_names_ties_go_to_the_earlier_name_and_lower_id():
    a, b = NamedFaces("A", {"x", "y"}), NamedFaces("B", {"x", "y"})
    got = carry_names([a, b], {5: {"x"}, 4: {"y"}})
    assert {cid: e.name for cid, e in got.items()} == {4: "A", 5: "B"}


def test_give_name_takes_the_faces_from_other_names():
    names = [NamedFaces("Ada", {"1", "2"}), NamedFaces("Bob", {"3"}, gallery="g.gallery")]
    out = give_name(names, {"2", "3"}, "Cy")
    assert [(e.name, e.faces) for e in out] == [("Ada", {"1"}), ("Cy", {"2", "3"})]
    again = give_name([NamedFaces("Bob", {"3"}, gallery="g.gallery")], {"3", "4"}, "Bob")
    assert [(e.name, e.faces, e.gallery) for e in again] == [("Bob", {"3", "4"}, "g.gallery")]


def test_save_and_load(tmp_path):
    assert load_names(tmp_path) == []
    names = [NamedFaces("Zoë", {"k:0", "k:1"}, None), NamedFaces("Ada", set(), "x.gallery")]
    save_names(tmp_path, names)
    assert load_names(tmp_path) == names
    (tmp_path / "names.json").write_text("{broken")
    with pytest.raises(DataError, match="names"):
        load_names(tmp_path)


def test_folder_names_are_safe_and_unique():
    got = folder_names([(1, None), (2, "Ada"), (3, "ada"), (4, "../etc/passwd"), (5, "unclustered"),
                        (6, "cluster_0001"), (7, ".hidden"), (8, 'a:b*c?"d<e>f|g\\h')])
    assert got[1] == "cluster_0001" and got[2] == "Ada" and got[3] == "ada (2)"
    assert got[4] == ".._etc_passwd".lstrip(".") and "/" not in got[4]
    assert got[5] == "unclustered (2)" and got[6] == "cluster_0001 (2)" and got[7] == "hidden"
    assert got[8] == "a_b_c__d_e_f_g_h"
    assert safe_folder("   ") == "_" and len(safe_folder("x" * 500)) == 100


@pytest.mark.parametrize("bad", ["", "   ", "a\nb", 3, "x" * 201])
def test_cluster_names_are_checked(bad):
    with pytest.raises(ValueError, match="'name' parameter of name_cluster"):
        check_cluster_name(bad)
    assert check_cluster_name("  Ada  ") == "Ada"
