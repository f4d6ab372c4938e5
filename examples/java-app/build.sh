#!/bin/bash
# target/java-app.war from src/, offline: the JDK's javac and jar against Debian's servlet API
# (libtomcat10-java), the same .war `mvn package` writes. Usage: ./build.sh (from anywhere).
set -euo pipefail
cd "$(dirname "$0")"
api=/usr/share/java/tomcat10-servlet-api.jar
for need in javac jar "$api"; do
  command -v "$need" >/dev/null || [ -e "$need" ] || {
    echo "build.sh: $need is missing: apt-get install openjdk-17-jdk-headless libtomcat10-java" >&2
    exit 2
  }
done
rm -rf target/classes target/war target/java-app.war
mkdir -p target/classes target/war
javac --release 17 -encoding UTF-8 -cp "$api" -d target/classes $(find src/main/java -name '*.java')
cp -r src/main/webapp/. target/war/
mkdir -p target/war/WEB-INF
cp -r target/classes target/war/WEB-INF/classes
jar --create --file target/java-app.war -C target/war .
echo "built target/java-app.war"
