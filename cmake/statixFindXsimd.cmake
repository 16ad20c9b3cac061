# Finds xsimd for statix and its consumers. Debian's xsimd 8 config lists `xtl` as a link dependency
# without finding it (xtl is optional for xsimd and unused by statix); when no `xtl` target exists,
# drop the name so that nothing links a nonexistent `-lxtl`.
find_package(xsimd 8 CONFIG REQUIRED)
if(TARGET xsimd AND NOT TARGET xtl)
  get_target_property(_statix_xsimd_libs xsimd INTERFACE_LINK_LIBRARIES)
  if(_statix_xsimd_libs)
    list(REMOVE_ITEM _statix_xsimd_libs xtl)
    set_target_properties(xsimd PROPERTIES INTERFACE_LINK_LIBRARIES "${_statix_xsimd_libs}")
  endif()
  unset(_statix_xsimd_libs)
endif()
