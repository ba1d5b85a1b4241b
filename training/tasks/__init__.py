"""Task recipes, one folder each: what to train on which env, what to compare it with, the plots
and the command that runs it (``market_making``, ``execution``, ``otc``, ``day``, ``replay``);
each folder's ``command.py`` registers its ``jaxmarket`` subcommands in ``registry``."""
