"""The suite in the classroom: lecture decks, an offline HTML book, and hosted Jupyter.

- :mod:`.slides` — the rule that turns a notebook's headings into slide metadata (one rule, stamped
  on every notebook; a test keeps the committed notebooks equal to what it gives);
- :mod:`.hosted` — the setup cell's install-from-the-repository fallback (Colab and the like);
- :mod:`.static_widgets` — a widget's default state as static HTML and a figure, for readers
  without a kernel (the slides and the book);
- :mod:`.offline` — the vendored reveal.js and MathJax, so nothing is fetched when presenting or reading;
- :mod:`.deck`, :mod:`.book` — the builds behind ``python3 dev.py slides`` and ``python3 dev.py book``.
"""
