"""A git repository's release tag, read with the real ``git`` (local path or remote URL).

Facts only, every command under a total deadline (:func:`.tools.run_tool`), every command
read-only: ``for-each-ref``, ``rev-parse``, ``verify-tag``, ``ls-remote`` (and, to verify the
signature of a *remote* tag, a ``fetch`` of that one tag into a throw-away bare repository).
The checklist's ``git tag v5.7.1`` would *create* a tag; :meth:`GitRepo.reproduce_tag` gives the
command that only reads it.

An unreachable repository, a path that is not a repository or a git that cannot start raise
:class:`ProbeUnavailable`; a missing, lightweight, moved or unsigned tag is a fact.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import ProbeUnavailable
from .tools import ToolOutput, require_tool, run_tool

_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_HEX = re.compile(r"^[0-9a-fA-F]{4,64}$")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")  # git@host:org/repo.git
_GOOD = re.compile(r'^Good "git" signature(?: for (?P<principal>.+?))? with (?P<key>\S+ key \S+)')
_SIGNATURE_FORMATS = (
    ("-----BEGIN SSH SIGNATURE-----", "ssh"),
    ("-----BEGIN PGP SIGNATURE-----", "openpgp"),
    ("-----BEGIN SIGNED MESSAGE-----", "x509"),
)
GIT_HINT = "install git (apt-get install git) or set gitops.git to its path"


def is_remote(location: str) -> bool:
    """A URL (``scheme://``) or scp-like ``user@host:path`` is remote; anything else is a path."""
    return "://" in location or bool(_SCP_LIKE.match(location))


def is_full_sha(text: str) -> bool:
    return bool(_SHA.match(text))


def is_hex_prefix(text: str) -> bool:
    """Could ``text`` be an (abbreviated) object name? Git needs at least 4 hex digits."""
    return bool(_HEX.match(text))


def signature_format(text: str) -> str | None:
    """``ssh`` | ``openpgp`` | ``x509`` for the armour found in a tag object, or None."""
    for armour, name in _SIGNATURE_FORMATS:
        if armour in text:
            return name
    return None


def parse_ls_remote(text: str, tag: str) -> tuple[str | None, str | None]:
    """``git ls-remote`` lines → (object the tag ref names, the commit it peels to).

    An annotated tag has a second line ``<sha>\\trefs/tags/T^{}`` (the peeled commit); a
    lightweight tag has only the first, naming the commit itself.
    """
    ref = f"refs/tags/{tag}"
    obj = peeled = None
    for line in text.splitlines():
        sha, _, name = line.strip().partition("\t")
        if name == ref:
            obj = sha
        elif name == ref + "^{}":
            peeled = sha
    return obj, peeled


def parse_verify_tag(stderr: str) -> tuple[bool, str | None, str]:
    """``git verify-tag`` stderr → (a good signature was reported, signer, the telling line).

    Git says ``Good "git" signature for PRINCIPAL with ED25519 key SHA256:...`` for a trusted ssh
    key and ``Good "git" signature with ...`` followed by ``No principal matched.`` for a valid
    signature by a key that is not in the allowed-signers file; the exit status decides.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        match = _GOOD.match(line)
        if match:
            signer = match.group("principal") or match.group("key")
            problems = [x for x in lines if x != line]
            return True, signer, problems[0] if problems else line
    return False, None, lines[-1] if lines else "git verify-tag said nothing"


@dataclass(frozen=True)
class TagFacts:
    """What the repository says about one tag."""

    repo: str                  # as shown (a path, or the URL without credentials)
    name: str
    exists: bool
    object_type: str | None    # "tag" = annotated, "commit" = lightweight (None if unknown)
    object_sha: str | None     # what refs/tags/<name> names
    commit: str | None         # the commit the tag peels to (``<name>^{commit}``)
    tagger: str | None = None
    signature: str | None = None  # "ssh" | "openpgp" | "x509" | None (unsigned)
    remote: bool = False

    @property
    def annotated(self) -> bool:
        return self.object_type == "tag"


@dataclass(frozen=True)
class SignatureCheck:
    """The result of ``git verify-tag`` with the configured allowed signers."""

    verified: bool
    signer: str | None
    detail: str      # git's own words (first telling line)
    command: str


class GitRepo:
    """One repository: a local working copy / bare repo, or a remote read with ``ls-remote``."""

    def __init__(self, location: str, *, git: str = "git", timeout_s: float = 20.0,
                 display: str | None = None) -> None:
        self.location = location
        self.remote = is_remote(location)
        self.git = git
        self.timeout_s = timeout_s
        self.display = display or location

    # -- running git ------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C",
            "GIT_SSH_COMMAND": env.get("GIT_SSH_COMMAND")
            or f"ssh -o BatchMode=yes -o ConnectTimeout={max(1, int(self.timeout_s))}",
        })
        return env

    def _run(self, *args: str, cwd: str | None = None, display: str | None = None) -> ToolOutput:
        binary = require_tool(self.git, hint=GIT_HINT)
        argv = [binary, *args]
        if cwd is None and not self.remote:
            argv = [binary, "-C", self.location, *args]
        shown = display or shlex.join(["git", *args])
        out = run_tool(argv, timeout_s=self.timeout_s, env=self._env(), cwd=cwd, tool="git",
                       display=self._clean(shown))
        if self.location != self.display:
            # A remote URL may carry credentials: git's messages show it as configured.
            out = dataclasses.replace(out, text=self._clean(out.text),
                                      stderr=self._clean(out.stderr))
        return out

    def _clean(self, text: str) -> str:
        return text.replace(self.location, self.display) if self.location != self.display else text

    def _check_local(self) -> None:
        if not Path(self.location).exists():
            raise ProbeUnavailable(f"git repository {self.display} does not exist")
        out = self._run("rev-parse", "--git-dir")
        if out.returncode != 0:
            raise ProbeUnavailable(
                f"{self.display} is not a git repository: {_last_line(out.stderr)}")

    # -- facts --------------------------------------------------------------------------------
    def tag(self, name: str) -> TagFacts:
        """The tag ``name``: does it exist, is it annotated, which commit, is it signed."""
        if not name or name.startswith("-") or any(c in name for c in " \t\n~^:?*[\\"):
            raise ValueError(f"{name!r} is not a tag name")
        if self.remote:
            return self._remote_tag(name)
        self._check_local()
        ref = f"refs/tags/{name}"
        out = self._run("for-each-ref", "--format=%(refname)%00%(objecttype)%00%(objectname)%00"
                        "%(taggername) %(taggeremail)", ref)
        if out.returncode != 0:
            raise ProbeUnavailable(f"git for-each-ref failed in {self.display}: "
                                   f"{_last_line(out.stderr)}")
        row = next((line.split("\0") for line in out.text.splitlines()
                    if line.split("\0")[0] == ref), None)
        if row is None or len(row) < 4:
            return TagFacts(self.display, name, False, None, None, None)
        object_type, object_sha, tagger = row[1], row[2], row[3].strip() or None
        commit = self.resolve_commit(ref)
        signature = None
        if object_type == "tag":
            body = self._run("cat-file", "tag", ref)
            signature = signature_format(body.text) if body.returncode == 0 else None
        return TagFacts(self.display, name, True, object_type, object_sha, commit,
                        tagger if object_type == "tag" else None, signature)

    def _remote_tag(self, name: str) -> TagFacts:
        ref = f"refs/tags/{name}"
        out = self._run("ls-remote", "--tags", "--end-of-options", self.location, ref, ref + "^{}",
                        display=shlex.join(["git", "ls-remote", "--tags", self.display, ref,
                                            ref + "^{}"]))
        if out.returncode != 0:
            raise ProbeUnavailable(
                f"git ls-remote cannot read {self.display}: {_last_line(out.stderr)}")
        obj, peeled = parse_ls_remote(out.text, name)
        if obj is None:
            return TagFacts(self.display, name, False, None, None, None, remote=True)
        # ls-remote shows a peeled line only for tag objects: that is what "annotated" means.
        object_type = "tag" if peeled else "commit"
        return TagFacts(self.display, name, True, object_type, obj, peeled or obj, remote=True)

    def resolve_commit(self, rev: str) -> str | None:
        """The full SHA of ``rev^{commit}`` in a local repository, None when it names nothing.

        An ambiguous abbreviation raises ``ValueError`` with git's words. Remote repositories
        cannot resolve abbreviations without a fetch: ``ValueError`` there too.
        """
        if self.remote:
            raise ValueError(f"{self.display} is remote: commits are compared by prefix")
        out = self._run("rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}")
        if out.returncode == 0 and is_full_sha(out.text.strip()):
            return out.text.strip()
        if "ambiguous" in out.stderr:
            raise ValueError(f"{rev} is ambiguous in {self.display}: {_last_line(out.stderr)}")
        return None

    def verify_tag(self, name: str, allowed_signers: str) -> SignatureCheck:
        """``git verify-tag`` with ``gpg.ssh.allowedSignersFile`` (a remote tag is fetched, alone,
        into a temporary bare repository first)."""
        ref = f"refs/tags/{name}"
        shown = shlex.join(["git", "-c", f"gpg.ssh.allowedSignersFile={allowed_signers}",
                            "verify-tag", name])
        if not self.remote:
            self._check_local()
            out = self._run("-c", f"gpg.ssh.allowedSignersFile={allowed_signers}",
                            "verify-tag", ref, display=shown)
            good, signer, detail = parse_verify_tag(out.stderr)
            return SignatureCheck(out.returncode == 0 and good, signer, detail,
                                  f"git -C {shlex.quote(self.display)} " + shown[4:])
        with tempfile.TemporaryDirectory(prefix="pytest-release-tag-") as tmp:
            init = self._run("init", "-q", "--bare", tmp, cwd=tmp)
            if init.returncode != 0:
                raise ProbeUnavailable(f"git init failed: {_last_line(init.stderr)}")
            fetch = self._run("-C", tmp, "fetch", "-q", "--no-tags", "--depth=1",
                              "--end-of-options", self.location, f"+{ref}:{ref}", cwd=tmp,
                              display=shlex.join(["git", "fetch", "--depth=1", self.display, ref]))
            if fetch.returncode != 0:
                raise ProbeUnavailable(
                    f"git fetch of {ref} from {self.display} failed: {_last_line(fetch.stderr)}")
            out = self._run("-C", tmp, "-c", f"gpg.ssh.allowedSignersFile={allowed_signers}",
                            "verify-tag", ref, cwd=tmp, display=shown)
        good, signer, detail = parse_verify_tag(out.stderr)
        return SignatureCheck(out.returncode == 0 and good, signer, detail,
                              f"git fetch --depth=1 {shlex.quote(self.display)} {ref}:{ref} && "
                              + shown)

    # -- reproduce commands (read-only) ---------------------------------------------------------
    def reproduce_tag(self, name: str) -> str:
        """The read-only command showing the tag and its commit (never ``git tag NAME``)."""
        if self.remote:
            return shlex.join(["git", "ls-remote", "--tags", self.display, f"refs/tags/{name}",
                               f"refs/tags/{name}^{{}}"])
        repo = shlex.quote(self.display)
        return (f"git -C {repo} cat-file -t refs/tags/{shlex.quote(name)} && "
                f"git -C {repo} rev-parse {shlex.quote(name + '^{commit}')}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or ["no output"])[0]
