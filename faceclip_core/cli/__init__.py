"""The `faceclip` / `python -m faceclip_core` command line: `main` dispatches, `options` holds what every command
shares (help format, dtype option, path checks, exit codes), and each command is one module (`encode`, `convert`,
`compare_t5`, `download`, `detect`). The `idea` and `train` groups keep their own entry points in their packages.
"""
