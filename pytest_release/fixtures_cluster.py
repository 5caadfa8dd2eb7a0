"""The ``cluster`` fixture: Kubernetes objects for the cluster checks, live or from a snapshot.

The source is chosen from the ``[cluster]`` settings when the first check asks for it; the
``kubernetes`` client is imported only for a live source.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .evidence import not_measured

if TYPE_CHECKING:
    from .probes.cluster import ClusterSource
    from .settings import Settings


@pytest.fixture(scope="session")
def cluster(release_settings: Settings) -> ClusterSource:
    """A ``ClusterSource`` (``list(plural, namespace)``, ``get(plural, name, namespace)``,
    ``source`` = ``live``|``snapshot``, ``description``) chosen from ``[cluster]``:
    ``cluster.snapshot_dir`` reads a directory of ``kubectl get -o yaml`` output or manifests;
    ``cluster.kubeconfig`` (+ ``context``), ``cluster.server`` (+ ``token``, ``ca_file``,
    ``insecure_skip_tls_verify``) or ``cluster.in_cluster`` read a live API, each call within
    ``cluster.timeout_s``. Neither configured, or a source that cannot be opened: the check is
    *not measured*, naming the setting to fix."""
    from .probes import ProbeUnavailable
    from .probes.cluster import open_cluster

    c = release_settings.cluster
    try:
        return open_cluster(snapshot_dir=c.snapshot_dir, kubeconfig=c.kubeconfig, context=c.context,
                            server=c.server, token=c.token, in_cluster=c.in_cluster,
                            ca_file=c.ca_file, insecure=c.insecure_skip_tls_verify,
                            timeout_s=c.timeout_s)
    except ProbeUnavailable as exc:
        not_measured(f"{exc} (in [cluster] of release.toml or --release-set cluster.KEY=...)")
