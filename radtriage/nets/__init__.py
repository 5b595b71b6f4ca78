"""Network definitions of the four tasks, each registered on import in the bundle allow-list.

A bundle's ``inference.json`` names its network by its import path (``radtriage.nets.<module>.<Class>``); the
loader imports that module, whose ``register_network`` call puts the class on the allow-list.
"""

BUILTIN_NETWORKS: frozenset[str] = frozenset(
    {
        "radtriage.nets.body_region.BodyRegionNet",
        "radtriage.nets.cmb.CmbCandidateNet",
        "radtriage.nets.cmb.CmbDiscriminator",
        "radtriage.nets.cmb.CmbDetector",
        "radtriage.nets.lge.LgeEfficientNetV2",
        "radtriage.nets.mri_triage.MriTriageNet",
    }
)
"""The project's own networks: allowed in bundles without importing them (listing bundles stays torch-free);
their module is imported, and registers the class, only when a network is built."""
