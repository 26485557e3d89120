"""The `mmsearch` command line: `main` builds the parser from one module per command group;
`common` holds what they share. Commands call the search services, indexers and encoders;
nothing here is imported by them."""
