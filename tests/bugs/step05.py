from tests.bugs import Bug

BUGS = [
    Bug(5, "spec.split(':') without validation", "test_empty_fields_and_too_many_colons",
        (('    fields = spec.split(":")\n'
          '    if "" in fields:\n'
          '        raise VolumeSpecError(INVALID_SPEC.format(spec=spec), spec)\n'
          '    match fields:\n',
          '    fields = spec.split(":")\n'
          '    match fields[:3]:\n'),)),
    Bug(5, "a relative destination accepted", "test_relative_destination_is_refused",
        (('    if not target.startswith("/"):\n'
          '        raise invalid(NOT_ABSOLUTE.format(path=target))\n', ""),)),
    # Further mistakes seen in this step, each caught by its own check.
    Bug(5, "posixpath.normpath alone keeps a leading //", "test_destination_root_is_refused",
        (('    return "/" + posixpath.normpath(path).lstrip("/")\n',
          '    return posixpath.normpath(path)\n'),)),
    Bug(5, "volume name matched with $, which allows a final newline",
        "test_invalid_volume_names_are_refused",
        (('VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")',
          'VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+$")'),
         ("if not VOLUME_NAME.fullmatch(source):", "if not VOLUME_NAME.match(source):"))),
    Bug(5, "modes checked one by one, conflicts not counted", "test_conflicting_modes_are_refused",
        (("        if family is None or family in seen:\n",
          "        if family is None:\n"),)),
    Bug(5, "propagation accepted on a named volume", "test_each_mode_where_it_belongs",
        (("    elif propagation:  # a volume's mount propagation is the runtime's business\n"
          "        raise invalid(BIND_ONLY)\n"
          "    elif source is not None:\n",
          "    elif source is not None:\n"),)),
]
