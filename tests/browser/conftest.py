# The browser fixture notebook is run by tests/test_browser.py in JupyterLab, not compared by nbval.
collect_ignore_glob = ["*.ipynb"]
