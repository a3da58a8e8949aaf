"""``gpurec serve``: a local web page over the same queries as the CLI (see :mod:`gpurec_core.web.app`)."""
