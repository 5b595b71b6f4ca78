"""Standard-space anatomy: the MNI ICBM152 2009a template nilearn ships, and maps derived from it."""
