"""Glue Python shell entrypoint for the prodml ETL job. No logic lives here: it hands the job arguments
(``--JOB_NAME --dataset --raw_uri --processed_uri --contract_uri`` ...) to the ETL library, which arrives
as the prodml wheel of the release (``--extra-py-files``, put there by ``prodml ship``)."""

import sys

from prodml.etl.job import main

if __name__ == "__main__":
    sys.exit(main(sys.argv))
