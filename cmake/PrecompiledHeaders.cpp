// The translation unit that carries the shared precompiled header (see
// PrecompiledHeaders.h); it has no code of its own.
