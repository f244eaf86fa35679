# The layers of the code, bottom first (ARCHITECTURE.md draws them): a library links only libraries
# on floors below its own. At configure time every target's direct links are checked against this
# table, and a link to the same floor or one above fails the configuration; the `layers` test runs
# the same check in script mode on the links written to layer-links.txt, and on a link that breaks
# the rule, so the check itself is tested.
cmake_policy(VERSION 3.22)   # IN_LIST, also in script mode
set(LEANTUNE_FLOORS
    "leantune_metrics"                                                  # probes, sizes, samples
    "leantune_dataset leantune_prune leantune_model"                    # data, pruning, models
    "leantune_config"                                                   # the run's description
    "leantune_train leantune_store"                                     # trainer, run history
    "leantune_export leantune_job"                                      # export, the run's driver
    "leantune_audit"                                                    # data audit (cross-trains)
    "leantune_core leantune_widgets leantune_cli_commands"              # all of core; widgets; cli
    "leantune_gui leantune-cli leantune-cli-engine"                     # the programs
    "leantune")

# OUT: the floor of TARGET (0 = bottom), or -1 when the table does not name it.
function(leantune_floor_of target out)
    set(floor 0)
    foreach(names IN LISTS LEANTUNE_FLOORS)
        string(REPLACE " " ";" names "${names}")
        if(target IN_LIST names)
            set(${out} ${floor} PARENT_SCOPE)
            return()
        endif()
        math(EXPR floor "${floor} + 1")
    endforeach()
    set(${out} -1 PARENT_SCOPE)
endfunction()

# OUT: the links among LINKS ("target>dependency" each) that go to the same floor or above.
function(leantune_layer_violations out)
    set(bad "")
    foreach(link IN LISTS ARGN)
        string(REPLACE ">" ";" pair "${link}")
        list(GET pair 0 from)
        list(GET pair 1 to)
        leantune_floor_of("${from}" a)
        leantune_floor_of("${to}" b)
        if(a GREATER -1 AND b GREATER -1 AND NOT b LESS a)
            list(APPEND bad "${from} (floor ${a}) links ${to} (floor ${b})")
        endif()
    endforeach()
    set(${out} "${bad}" PARENT_SCOPE)
endfunction()

# Configure time: collects the direct links of every target in the table, writes them to FILE and
# fails on a violation.
function(leantune_check_layers file)
    set(links "")
    foreach(names IN LISTS LEANTUNE_FLOORS)
        string(REPLACE " " ";" names "${names}")
        foreach(target IN LISTS names)
            if(NOT TARGET ${target})
                continue()
            endif()
            get_target_property(type ${target} TYPE)
            set(deps "")
            if(NOT type STREQUAL "INTERFACE_LIBRARY")
                get_target_property(direct ${target} LINK_LIBRARIES)
                if(direct)
                    list(APPEND deps ${direct})
                endif()
            endif()
            get_target_property(iface ${target} INTERFACE_LINK_LIBRARIES)
            if(iface)
                list(APPEND deps ${iface})
            endif()
            foreach(dep IN LISTS deps)
                string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" dep "${dep}")
                if(TARGET ${dep})
                    list(APPEND links "${target}>${dep}")
                endif()
            endforeach()
        endforeach()
    endforeach()
    list(REMOVE_DUPLICATES links)
    string(REPLACE ";" "\n" text "${links}")
    file(WRITE "${file}" "${text}\n")
    leantune_layer_violations(bad ${links})
    if(bad)
        string(REPLACE ";" "\n  " bad "${bad}")
        message(FATAL_ERROR "A library links one on its own floor or above (cmake/LeanTuneLayers.cmake):\n  ${bad}")
    endif()
endfunction()

# Script mode (the `layers` test): cmake -DLINKS_FILE=… -P LeanTuneLayers.cmake
if(CMAKE_SCRIPT_MODE_FILE AND LINKS_FILE)
    file(STRINGS "${LINKS_FILE}" links)
    list(LENGTH links count)
    if(count LESS 20)
        message(FATAL_ERROR "layers: only ${count} links in ${LINKS_FILE}; the collection is broken")
    endif()
    leantune_layer_violations(bad ${links})
    if(bad)
        message(FATAL_ERROR "layers: ${bad}")
    endif()
    leantune_layer_violations(caught "leantune_train>leantune_job" "leantune_config>leantune_train")
    list(LENGTH caught n)
    if(NOT n EQUAL 2)
        message(FATAL_ERROR "layers: the check let an upward link pass (${caught})")
    endif()
    message(STATUS "layers: ${count} links, each to a lower floor; an upward link is caught")
endif()
