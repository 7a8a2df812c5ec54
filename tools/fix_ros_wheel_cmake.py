"""Point the ROS 2 wheels' exported CMake targets at this interpreter's headers.

The Jazzy wheels on PyPI were built in a manylinux image, and their exported
`*__rosidl_generator_pyExport.cmake` files name that image's Python and NumPy include folders
(/opt/python/cp3XX-cp3XX/...), which do not exist elsewhere: CMake then refuses to generate any
package that depends on those message packages. This rewrites the paths to the ones of the
venv's interpreter. Idempotent; touches only files under the venv's share/ folder.
"""

import re
import sys
import sysconfig
from pathlib import Path

import numpy


def main() -> int:
    share = Path(sys.prefix) / 'share'
    python_include = sysconfig.get_paths()['include']
    numpy_include = numpy.get_include()
    pattern = re.compile(r'/opt/python/cp\d+-cp\d+/(include/python3\.\d+|lib/python3\.\d+/'
                         r'site-packages/numpy/_core/include)')

    def replace(match: re.Match) -> str:
        return python_include if match.group(1).startswith('include') else numpy_include

    changed = 0
    for path in share.glob('*/cmake/*.cmake'):
        text = path.read_text()
        new = pattern.sub(replace, text)
        if new != text:
            path.write_text(new)
            changed += 1
    print(f'fix_ros_wheel_cmake: rewrote {changed} CMake export files in {share}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
