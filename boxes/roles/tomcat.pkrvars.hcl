role        = "tomcat"
description = "Tomcat 10.1 on the OpenJDK 17 JRE, ready for Java .war apps (parallel deployment of ROOT)"
scripts     = ["common.sh", "tomcat.sh", "cleanup.sh"]
ports       = [8000]
build_by_default = false  # only Java teams need it: `contrail build-boxes tomcat`
# Supervisor starts Tomcat in the smoke container: wait for the placeholder's health, and the manager's
# text interface asking for its (not yet written) user.
smoke = "curl -fs http://127.0.0.1:8000/_contrail/health | grep -q '\"release\": \"placeholder\"' && test \"$(curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:8000/manager/text/list)\" = 401"
