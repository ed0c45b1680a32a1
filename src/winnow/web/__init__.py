"""The hunter's workbench: ``winnow serve`` (FastAPI, server-rendered pages, each with a JSON twin) and
``winnow report`` (one self-contained HTML file).

Pages call the same library functions as the CLI (:mod:`winnow.triage`, :mod:`winnow.risk`,
:mod:`winnow.hunting`, the sensor-health detector's coverage); this package only gathers, renders and
guards. FastAPI is imported only here, and only when a page is served (``pip install 'winnow[web]'``).
"""
