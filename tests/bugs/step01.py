from tests.bugs import Bug

BUGS = [
    Bug(1, "mode left to the umask", "test_created_directories_are_0755_whatever_the_umask",
        (("                os.chmod(directory, 0o755)\n", ""),
         ("os.mkdir(directory)", "os.mkdir(directory, 0o755)"))),
    Bug(1, "existing directories re-chmodded",
        "test_existing_directories_keep_their_mode_and_contents",
        (("            if not os.path.isdir(directory):  # the two paths may share parents\n"
          "                os.mkdir(directory)\n",
          "            if not os.path.isdir(directory):\n"
          "                os.mkdir(directory)\n"
          "    for path in (volume_path, container_path):\n"
          "        for directory in (os.path.dirname(os.path.abspath(path)), path):\n"),)),
]
