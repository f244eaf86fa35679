# Shared target options: warnings and Qt defines every LeanTune target uses (qBittorrent style).
add_library(leantune_options INTERFACE)
target_compile_options(leantune_options INTERFACE -Wall -Wextra)
target_compile_definitions(leantune_options INTERFACE
    QT_NO_KEYWORDS                      # torch headers clash with Qt's signals/slots macros
    QT_NO_CAST_FROM_ASCII
    QT_NO_NARROWING_CONVERSIONS_IN_CONNECT
    QT_USE_QSTRINGBUILDER
    $<$<BOOL:${LEANTUNE_WITH_CUDA}>:LEANTUNE_WITH_CUDA>)

# The gold linker links the ~50 programs, each against LibTorch, several times faster than bfd.
set(LEANTUNE_LINKER gold CACHE STRING "The linker g++ uses (-fuse-ld=...); empty for the default")
if(LEANTUNE_LINKER)
    include(CheckLinkerFlag)
    check_linker_flag(CXX "-fuse-ld=${LEANTUNE_LINKER}" LEANTUNE_HAVE_LINKER)
    if(LEANTUNE_HAVE_LINKER)
        add_link_options("-fuse-ld=${LEANTUNE_LINKER}")
    endif()
endif()

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

# Build time (CI builds everything from scratch on two cores, so it counts): the PCH goes only to the
# sources that include LibTorch, and those are compiled a few at a time as unity sources, so the
# templates LibTorch's headers instantiate are compiled once per group instead of once per file.
option(LEANTUNE_UNITY_BUILD "Compile a target's LibTorch sources in groups (unity build)" ON)
set(LEANTUNE_UNITY_GROUP_SIZE 5 CACHE STRING "LibTorch sources per unity group")

# leantune_use_widgets_pch(target): the precompiled Qt Widgets and QCustomPlot headers
# (widgets/CMakeLists.txt) for a target that never includes torch: the widgets, the GUI, their tests.
# Parsing those headers was most of a widget source's compile time (~6 of ~9 s, bench/README.md).
function(leantune_use_widgets_pch target)
    if(LEANTUNE_USE_PCH AND TARGET leantune_widgets_pch)
        target_precompile_headers(${target} REUSE_FROM leantune_widgets_pch)
        # GCC takes a PCH only where the macros its headers test are alike: the tests get the C++11
        # ABI macro from LibTorch's flags, so the header and every user define it (libstdc++'s
        # default value).
        target_compile_definitions(${target} PRIVATE _GLIBCXX_USE_CXX11_ABI=1)
    endif()
endfunction()

# leantune_includes_torch(FILE OUT): OUT is TRUE when FILE, or a header of this project it includes
# (followed a few levels), includes a LibTorch header.
function(leantune_includes_torch file out)
    set(pending "${file}")
    set(seen)
    set(found FALSE)
    while(pending AND NOT found)
        list(POP_FRONT pending current)
        list(APPEND seen "${current}")
        file(STRINGS "${current}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
        foreach(line IN LISTS lines)
            if(line MATCHES "#[ \t]*include[ \t]*<(torch|ATen|c10|caffe2)/")
                set(found TRUE)
                break()
            elseif(line MATCHES "#[ \t]*include[ \t]*\"([^\"]+)\"")
                get_filename_component(dir "${current}" DIRECTORY)
                foreach(base "${dir}" "${PROJECT_SOURCE_DIR}/core" "${PROJECT_SOURCE_DIR}")
                    if(EXISTS "${base}/${CMAKE_MATCH_1}" AND NOT IS_DIRECTORY "${base}/${CMAKE_MATCH_1}")
                        get_filename_component(header "${base}/${CMAKE_MATCH_1}" ABSOLUTE)
                        if(NOT header IN_LIST seen AND NOT header IN_LIST pending)
                            list(APPEND pending "${header}")
                        endif()
                        break()
                    endif()
                endforeach()
            endif()
        endforeach()
    endwhile()
    set(${out} ${found} PARENT_SCOPE)
endfunction()

# leantune_use_torch_pch(target): the LibTorch PCH for the target's sources that include LibTorch
# (with LEANTUNE_UNITY_BUILD, compiled in unity groups); its other sources, and AUTOMOC's
# mocs_compilation.cpp, compile without it (loading the 570 MB PCH alone costs ~4 s a file).
function(leantune_use_torch_pch target)
    if(NOT LEANTUNE_USE_PCH)
        return()
    endif()
    target_precompile_headers(${target} REUSE_FROM leantune_torch_pch)
    get_target_property(sources ${target} SOURCES)
    get_target_property(source_dir ${target} SOURCE_DIR)
    get_target_property(binary_dir ${target} BINARY_DIR)
    set(torch_sources)
    foreach(source IN LISTS sources)
        if(NOT source MATCHES "\\.(cpp|cc|cxx)$")
            continue()
        endif()
        get_filename_component(path "${source}" ABSOLUTE BASE_DIR "${source_dir}")
        leantune_includes_torch("${path}" uses_torch)
        if(uses_torch)
            list(APPEND torch_sources "${source}")
        else()
            set_source_files_properties("${source}" PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
        endif()
    endforeach()
    set_source_files_properties("${binary_dir}/${target}_autogen/mocs_compilation.cpp"
        PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    list(LENGTH torch_sources count)
    if(LEANTUNE_UNITY_BUILD AND count GREATER 1)
        set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
        # As many groups as needed for the group size, filled in turn so that they are alike in size.
        math(EXPR groups "(${count} + ${LEANTUNE_UNITY_GROUP_SIZE} - 1) / ${LEANTUNE_UNITY_GROUP_SIZE}")
        set(index 0)
        foreach(source IN LISTS torch_sources)
            math(EXPR group "${index} % ${groups}")
            set_source_files_properties("${source}" PROPERTIES UNITY_GROUP "torch${group}")
            math(EXPR index "${index} + 1")
        endforeach()
    endif()
endfunction()

# AUTOMOC's moc gets only the project's and Qt's include directories (cmake/moc-includes.sh.in):
# given LibTorch's, it took seconds per test source for the same output.
option(LEANTUNE_MOC_QT_INCLUDES_ONLY "Run moc with the project's and Qt's include directories only" ON)
function(leantune_filter_moc_includes)
    if(NOT LEANTUNE_MOC_QT_INCLUDES_ONLY)
        return()
    endif()
    get_target_property(moc Qt6::moc IMPORTED_LOCATION)
    if(NOT moc)
        get_target_property(moc Qt6::moc IMPORTED_LOCATION_RELEASE)
    endif()
    if(NOT moc OR NOT TARGET Qt6::Platform)
        return()   # AUTOMOC finds moc itself, with every include directory
    endif()
    get_target_property(qt_core Qt6::Core INTERFACE_INCLUDE_DIRECTORIES)
    get_target_property(qt_platform Qt6::Platform INTERFACE_INCLUDE_DIRECTORIES)
    set(keep "${CMAKE_SOURCE_DIR}" "${CMAKE_BINARY_DIR}" ${qt_core} ${qt_platform})
    list(REMOVE_DUPLICATES keep)
    list(TRANSFORM keep REPLACE "(.+)" "'\\1'")
    list(JOIN keep " " LEANTUNE_MOC_KEEP)
    set(LEANTUNE_MOC "${moc}")
    set(wrapper "${CMAKE_BINARY_DIR}/moc-includes.sh")
    configure_file("${CMAKE_SOURCE_DIR}/cmake/moc-includes.sh.in" "${wrapper}" @ONLY
        FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
    set(dirs "${CMAKE_SOURCE_DIR}")
    while(dirs)
        list(POP_FRONT dirs dir)
        get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
        list(APPEND dirs ${subdirs})
        get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
        foreach(target IN LISTS targets)
            get_target_property(automoc ${target} AUTOMOC)
            if(automoc)
                set_target_properties(${target} PROPERTIES AUTOMOC_EXECUTABLE "${wrapper}")
            endif()
        endforeach()
    endwhile()
endfunction()
