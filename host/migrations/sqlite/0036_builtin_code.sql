-- A built-in plugin's code is the binary's: the rows keep its manifest and hash, not its bytes.
UPDATE plugins SET wasm = x'' WHERE builtin = 1;
