from setuptools import find_packages, setup

package_name = 'lvp_exec'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='LVP developers',
    maintainer_email='lvp@example.org',
    description=('Arm IK along the wrist path, time parameterization, safety checks and '
                 'execution backends.'),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'exec_node = lvp_exec.exec_node:main',
            'lvp_exec = lvp_exec.cli:main',
        ],
    },
)
