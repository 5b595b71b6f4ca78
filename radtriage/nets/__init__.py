"""Network definitions of the four tasks, each registered on import in the bundle allow-list.

A bundle's ``inference.json`` names its network by its import path (``radtriage.nets.<module>.<Class>``); the
loader imports that module, whose ``register_network`` call puts the class on the allow-list.
"""
