#pragma once
// Tests that measure the process's host RSS against predictions cannot run under AddressSanitizer:
// it replaces malloc (mallopt has no effect), keeps freed blocks in a quarantine and maps shadow
// memory, so RSS no longer follows the program's allocations. They skip there, saying why; the
// Release build runs them.

#if defined(__SANITIZE_ADDRESS__)
#define LEANTUNE_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LEANTUNE_UNDER_ASAN 1
#endif
#endif

#ifdef LEANTUNE_UNDER_ASAN
#define LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN()                                                        \
    QSKIP("measures host RSS, which AddressSanitizer's allocator makes meaningless (runs in the "  \
          "Release build)")
#else
#define LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN()                                                        \
    do {                                                                                           \
    } while (false)
#endif
