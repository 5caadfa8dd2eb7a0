"""probes.git: parsing tables, then the real git on real repositories (local and file:// remote)."""
from __future__ import annotations

import pytest

from pytest_release.demo.gitops import ReleaseRepo
from pytest_release.probes import ProbeUnavailable
from pytest_release.probes.git import (
    GitRepo,
    is_hex_prefix,
    is_remote,
    parse_ls_remote,
    parse_verify_tag,
    signature_format,
)

A = "a" * 40
B = "b" * 40


@pytest.mark.parametrize(("location", "remote"), [
    ("/srv/git/deploy", False), ("deploy-repo", False), ("./x:y", False),
    ("https://git.example.com/org/deploy.git", True), ("file:///srv/git/deploy", True),
    ("git@github.com:org/deploy.git", True), ("ssh://git@host/org/deploy", True),
])
def test_remote_or_local(location, remote):
    assert is_remote(location) is remote


@pytest.mark.parametrize(("text", "ok"), [("98ee13c", True), ("98EE13C", True), ("98e", False),
                                          ("v5.7.1", False), ("g" * 7, False), (A, True)])
def test_hex_prefixes(text, ok):
    assert is_hex_prefix(text) is ok


@pytest.mark.parametrize(("text", "expected"), [
    (f"{A}\trefs/tags/v5.7.1\n{B}\trefs/tags/v5.7.1^{{}}\n", (A, B)),     # annotated
    (f"{B}\trefs/tags/v5.7.1\n", (B, None)),                              # lightweight
    (f"{A}\trefs/tags/v5.7.10\n{B}\trefs/tags/v5.7.10^{{}}\n", (None, None)),  # a different tag
    ("", (None, None)),
])
def test_ls_remote_lines(text, expected):
    assert parse_ls_remote(text, "v5.7.1") == expected


@pytest.mark.parametrize(("stderr", "good", "signer"), [
    ('Good "git" signature for rel@example.com with ED25519 key SHA256:abc\n', True,
     "rel@example.com"),
    ('Good "git" signature with ED25519 key SHA256:abc\nNo principal matched.\n', True,
     "ED25519 key SHA256:abc"),
    ("Could not verify signature.\nSignature verification failed: incorrect signature\n", False,
     None),
    ("error: no signature found\n", False, None),
    ("", False, None),
])
def test_verify_tag_output(stderr, good, signer):
    found, who, detail = parse_verify_tag(stderr)
    assert (found, who) == (good, signer)
    assert detail


def test_signature_armour():
    assert signature_format("x\n-----BEGIN SSH SIGNATURE-----\n...") == "ssh"
    assert signature_format("-----BEGIN PGP SIGNATURE-----") == "openpgp"
    assert signature_format("plain message") is None


# -- real git -----------------------------------------------------------------------------------
@pytest.fixture
def repo(tmp_path) -> ReleaseRepo:
    made = ReleaseRepo(tmp_path / "deploy")
    made.commit("one")
    return made


def test_a_signed_annotated_tag_verifies_with_the_allowed_signers(repo):
    commit = repo.commits[-1]
    repo.tag("v5.7.1", commit)
    git = GitRepo(str(repo.path))
    facts = git.tag("v5.7.1")
    assert (facts.exists, facts.annotated, facts.commit, facts.signature) == (True, True, commit, "ssh")
    assert facts.tagger and "release-bot@example.com" in facts.tagger
    check = git.verify_tag("v5.7.1", str(repo.allowed_signers))
    assert check.verified and check.signer == "release-bot@example.com", check
    assert "verify-tag v5.7.1" in check.command and "tag v5.7.1 " not in check.command


def test_unsigned_lightweight_untrusted_and_tampered_tags_do_not_verify(repo):
    commit = repo.commits[-1]
    repo.tag("unsigned", commit, kind="annotated")
    repo.tag("light", commit, kind="lightweight")
    repo.tag("untrusted", commit, key=repo.other_key())
    repo.tag("edited", commit)
    repo.tamper_tag("edited")
    git = GitRepo(str(repo.path))
    signers = str(repo.allowed_signers)
    results = {name: git.verify_tag(name, signers) for name in
               ("unsigned", "light", "untrusted", "edited")}
    assert not any(r.verified for r in results.values()), results
    assert "no signature" in results["unsigned"].detail
    assert "non-tag object" in results["light"].detail
    assert "No principal matched" in results["untrusted"].detail
    assert "incorrect signature" in results["edited"].detail or \
        "Could not verify" in results["edited"].detail
    light = git.tag("light")
    assert (light.exists, light.object_type, light.annotated, light.commit) == (
        True, "commit", False, commit)
    assert git.tag("unsigned").signature is None


def test_a_moved_tag_points_at_the_new_commit(repo):
    first = repo.commits[-1]
    repo.tag("v5.7.1", first)
    second = repo.commit("two")
    repo.tag("v5.7.1", second, force=True)
    assert GitRepo(str(repo.path)).tag("v5.7.1").commit == second != first


def test_a_missing_tag_is_a_fact_not_an_error(repo):
    facts = GitRepo(str(repo.path)).tag("v5.7.1")
    assert (facts.exists, facts.commit) == (False, None)


def test_abbreviated_commits_resolve_and_unknown_ones_do_not(repo):
    commit = repo.commits[-1]
    git = GitRepo(str(repo.path))
    assert git.resolve_commit(commit[:7]) == commit
    assert git.resolve_commit(commit) == commit
    assert git.resolve_commit("0000000") is None
    assert git.resolve_commit("main") == commit


def test_remote_tags_are_read_with_ls_remote_and_verified_after_a_fetch(repo, tmp_path):
    commit = repo.commits[-1]
    repo.tag("v5.7.1", commit)
    repo.tag("light", commit, kind="lightweight")
    bare = repo.bare_clone(tmp_path / "deploy.git")
    git = GitRepo(f"file://{bare}")
    facts = git.tag("v5.7.1")
    assert (facts.remote, facts.exists, facts.annotated, facts.commit) == (True, True, True, commit)
    light = git.tag("light")
    assert (light.annotated, light.commit) == (False, commit)
    assert not git.tag("v9").exists
    assert git.verify_tag("v5.7.1", str(repo.allowed_signers)).verified
    assert git.reproduce_tag("v5.7.1").startswith("git ls-remote --tags file://")
    with pytest.raises(ValueError):
        git.resolve_commit(commit[:7])


@pytest.mark.parametrize("location", ["missing", "file:///nonexistent/deploy.git",
                                      "http://127.0.0.1:9/deploy.git", "not-a-repo"])
def test_an_unreachable_repository_is_unavailable_never_a_fact(tmp_path, location):
    if location in ("missing", "not-a-repo"):
        target = tmp_path / location
        if location == "not-a-repo":
            target.mkdir()
        location = str(target)
    with pytest.raises(ProbeUnavailable):
        GitRepo(location, timeout_s=10).tag("v5.7.1")


def test_a_slow_git_is_cut_at_the_deadline(tmp_path):
    slow = tmp_path / "slowgit"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    repo = tmp_path / "r"
    repo.mkdir()
    with pytest.raises(ProbeUnavailable, match="did not finish within"):
        GitRepo(str(repo), git=str(slow), timeout_s=0.5).tag("v5.7.1")


def test_reproduce_commands_only_read(repo):
    command = GitRepo(str(repo.path)).reproduce_tag("v5.7.1")
    assert "rev-parse 'v5.7.1^{commit}'" in command
    assert "git tag" not in command.replace("git -C", "")


@pytest.mark.parametrize("name", ["-d", "a b", "v1^{}", "x:y", ""])
def test_option_like_or_invalid_tag_names_are_refused(repo, name):
    with pytest.raises(ValueError):
        GitRepo(str(repo.path)).tag(name)


def test_credentials_in_a_remote_url_never_reach_a_message():
    from pytest_release.settings import safe_url

    url = "http://release:s3cr3t-token@127.0.0.1:9/deploy.git"
    with pytest.raises(ProbeUnavailable) as caught:
        GitRepo(url, timeout_s=10, display=safe_url(url)).tag("v5.7.1")
    assert "s3cr3t-token" not in str(caught.value)
    assert "release:***@127.0.0.1:9" in str(caught.value)
