"""`gradwatch run`: the user's program, run unchanged under an autograd sentinel.

Static analysis cannot see hazards that depend on data or configuration.
When one hits, torch names the modified saved tensor but not the line that
modified it. The sentinel watches the run through torch's public hooks and
names both lines (see sentinel.py). This package is the one place gradwatch
runs code: only the user's own program, and only when they ask for it.
"""
