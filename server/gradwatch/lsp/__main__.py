import sys

from gradwatch.lsp.server import main

raise SystemExit(main(sys.argv[1:]))
