from setuptools import find_packages, setup

package_name = 'lvp_reconstruction'

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
    description='Metric 4D wrist trajectory and scene point cloud from a hand track.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'lvp_reconstruct = lvp_reconstruction.cli:main',
            'reconstruction_node = lvp_reconstruction.reconstruction_node:main',
        ],
    },
)
