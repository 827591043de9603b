"""pytest settings shared by every test run here, the notebook runs (nbval) included.

nbval waits a fixed 5 s for each output message after a cell finishes (nbval issues #136 and #231);
on a busy machine a cell that printed many display updates (live plots, progress bars) can miss
that and fail. The one place the wait is set for the whole suite is NBVAL_OUTPUT_WAIT.
"""
NBVAL_OUTPUT_WAIT = 120  # seconds

try:
    from nbval.plugin import NbCellItem
except ImportError:  # nbval not installed: nothing to configure
    NbCellItem = None

if NbCellItem is not None and not getattr(NbCellItem, "_course_output_wait", False):
    _nbval_init = NbCellItem.__init__

    def _init_with_longer_wait(self, *args, **kwargs):
        _nbval_init(self, *args, **kwargs)
        self.output_timeout = NBVAL_OUTPUT_WAIT

    NbCellItem.__init__ = _init_with_longer_wait
    NbCellItem._course_output_wait = True
