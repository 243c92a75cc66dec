import sys

from gradwatch.search_path import make_search_path_safe

make_search_path_safe()  # before pygls, asyncio and the rest are imported: see gradwatch.search_path

from gradwatch.lsp.server import main  # noqa: E402

raise SystemExit(main(sys.argv[1:]))
