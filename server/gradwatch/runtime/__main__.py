"""`python -m gradwatch.runtime script.py [args...]`: same as `gradwatch run`."""

from gradwatch.search_path import make_search_path_safe

make_search_path_safe()  # before anything else is imported: see gradwatch.search_path

from gradwatch.runtime.main import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
