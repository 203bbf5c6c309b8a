"""The knowledge layer: documents in, a versioned, evaluated index out, and answers with citations.

Stage modules, each a small pure step:

- ``contract``   the knowledge contract, the only place document types, chunking, models, top-k, the answer
                 policy, prices and evaluation thresholds are set;
- ``normalise``  Markdown, HTML and PDF to text; ``chunking`` text to ``[start, end)`` spans;
- ``embedding``  Bedrock Titan on AWS, WordLlama (weights inside its wheel) offline; batches with retry;
- ``index``      the embedded index file (chunks, vectors, BM25) and dense, BM25 and hybrid retrieval;
- ``store``      the knowledge base in S3: landing, processed documents, manifest-last index commits;
- ``worker``     S3 event → SQS → ``process_message``; dead letters with reasons; ``build_index``;
- ``answer``     the answer policy, the offline extractive answerer and the Bedrock Converse answerer;
- ``evaluation`` golden questions, recall@k and MRR, and the promotion gate.

The service loads an index with ``load_promoted(contract, settings)`` (or ``KnowledgeIndex.load``) and
answers with ``answer_question``; an ECS task or a Lambda wraps ``worker.process_message``.
This package never imports another stage, and nothing in it downloads a model at run time.
"""
