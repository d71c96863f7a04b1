// Grants ACLs on the secured test broker through Kafka's own AdminClient (the ACL CLI is not among
// the broker's jars). Run with `java -cp '<kafka libs>/*' Acls.java <bootstrap> <admin user> <admin
// password> <principal> <resource type> <prefix> <operation>...`.
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class Acls {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.put("bootstrap.servers", args[0]);
    props.put("security.protocol", "SASL_PLAINTEXT");
    props.put("sasl.mechanism", "SCRAM-SHA-256");
    props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
        + args[1] + "\" password=\"" + args[2] + "\";");
    ResourcePattern resource =
        new ResourcePattern(ResourceType.valueOf(args[4]), args[5], PatternType.PREFIXED);
    List<AclBinding> bindings = new ArrayList<>();
    for (int i = 6; i < args.length; i++) {
      AclOperation operation = AclOperation.valueOf(args[i]);
      bindings.add(new AclBinding(resource,
          new AccessControlEntry(args[3], "*", operation, AclPermissionType.ALLOW)));
    }
    try (Admin admin = Admin.create(props)) {
      admin.createAcls(bindings).all().get();
    }
  }
}
