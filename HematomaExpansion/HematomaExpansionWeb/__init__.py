"""The HematomaExpansion module in a web browser: a trame-slicer page over the module's Logic.

Not loaded by 3D Slicer. Start it with ``python -m HematomaExpansionWeb --data DIR --out DIR``
(``PYTHONPATH=HematomaExpansion``); ``session`` holds the page's steps without trame, ``app`` and
``ui`` the trame-slicer application and its widgets, ``security`` and ``data_files`` the access
and file rules, ``page_ids`` the element ids the browser tests use.
"""
