from .cli import _die_with_parent, main

_die_with_parent()
main()
