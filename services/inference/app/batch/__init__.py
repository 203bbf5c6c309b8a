"""Batch scoring: every parquet or CSV file under a directory → predictions, a quarantine and a summary.

It runs as a SageMaker Processing job in the platform image (``python -m app.batch``, see
:mod:`app.batch.__main__`; started by ``prodml batch-score`` through :mod:`prodml.jobs.processing`), where a
ProcessingInput has downloaded the caller's S3 prefix into the input directory and a ProcessingOutput uploads
the output directory to the caller's S3 prefix. The work is :func:`app.batch.scoring.score_directory`.

- The model is the service's: the registry's champion (or a named version), downloaded from its
  ModelDataUrl and hash-verified and loaded by :func:`app.serving.model.load_artifact`, scored by
  :meth:`app.serving.model.LoadedModel.score` (ONNX Runtime when the artifact has a parity-checked graph)
  on inputs built by the one encoding (:class:`prodml.encoding.InputEncoding`), a chunk at a time.
- Rows are checked with the ETL's own validation (:func:`prodml.etl.validate.validate_batch`, without the
  target: rows to score have none), so a row ETL would refuse is never scored. Refused rows go to the
  quarantine with every reason; a CSV line that cannot be split into columns too (``malformed_row``).
- ``rows_in == rows_scored + rows_quarantined``, or the job fails before writing its summary.

Output layout (column names are this module's, the id's and features' are the contract's)::

    <output>/predictions/part-00000.parquet   <id>, prediction, probability_<class>..., model_version
                                              [with --explain: explained_class, base_value, margin,
                                               attribution_<feature>... (see app.serving.explain)]
    <output>/quarantine/part-00000.parquet    <id>, <features> as the text read, raw_record, source_file,
                                              source_row, quarantine_reason, quarantine_reasons
    <output>/summary.json                     counts, reasons, model, seconds, rows/s

Probabilities are one float64 column a class (``probability_<class>``, the class as text, in the model's
class order), not a list column: each is queryable as is (Athena, pandas) and a binary model's positive
class is one column. A regressor has none. Progress is printed as ``PRODML_EVENT`` lines
(:data:`prodml.jobs.EVENT_PREFIX`). Never writes outside the output directory; never scores an unverified model.
"""
