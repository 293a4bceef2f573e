"""The paper's artefacts from what the pipeline wrote: its claims (``claims``), Tables 1-6 and the released
weights' table (``tables``), Figs. 6-8 (``heatmap``, ``visual``), the report's pieces (``report``, ``plots``)
and the regression check against the committed reference (``regression``)."""
