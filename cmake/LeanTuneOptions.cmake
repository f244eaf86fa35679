# Shared target options: warnings and Qt defines every LeanTune target uses (qBittorrent style).
add_library(leantune_options INTERFACE)
target_compile_options(leantune_options INTERFACE -Wall -Wextra)
target_compile_definitions(leantune_options INTERFACE
    QT_NO_KEYWORDS                      # torch headers clash with Qt's signals/slots macros
    QT_NO_CAST_FROM_ASCII
    QT_NO_NARROWING_CONVERSIONS_IN_CONNECT
    QT_USE_QSTRINGBUILDER
    $<$<BOOL:${LEANTUNE_WITH_CUDA}>:LEANTUNE_WITH_CUDA>)

# Sanitizer builds: -DLEANTUNE_SANITIZE=address,undefined (or thread).
set(LEANTUNE_SANITIZE "" CACHE STRING "Comma-separated sanitizers (address,undefined or thread)")
if(LEANTUNE_SANITIZE)
    target_compile_options(leantune_options INTERFACE -fsanitize=${LEANTUNE_SANITIZE} -fno-omit-frame-pointer)
    target_link_options(leantune_options INTERFACE -fsanitize=${LEANTUNE_SANITIZE})
endif()

# One precompiled LibTorch header, built once and reused by every target that includes torch:
# parsing <torch/torch.h> costs ~15 s and ~1.1 GB per translation unit; with the PCH it is ~6 s.
add_library(leantune_torch_pch OBJECT "${CMAKE_CURRENT_LIST_DIR}/torch_pch.cpp")
target_link_libraries(leantune_torch_pch PRIVATE leantune_options ${TORCH_LIBRARIES} Qt6::Core)
if(LEANTUNE_USE_PCH)
    target_precompile_headers(leantune_torch_pch PRIVATE <torch/torch.h>)
endif()

# leantune_use_torch_pch(target): reuse the LibTorch PCH in a target whose sources include torch.
function(leantune_use_torch_pch target)
    if(LEANTUNE_USE_PCH)
        target_precompile_headers(${target} REUSE_FROM leantune_torch_pch)
    endif()
endfunction()
