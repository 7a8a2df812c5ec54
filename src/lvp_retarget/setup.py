from glob import glob

from setuptools import find_packages, setup

package_name = 'lvp_retarget'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/description', sorted(glob('description/*.urdf'))),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='LVP developers',
    maintainer_email='lvp@example.org',
    description='Inspire hand finger commands and parallel-gripper events from the human hand.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'lvp_retarget = lvp_retarget.cli:main',
            'retarget_node = lvp_retarget.retarget_node:main',
        ],
    },
)
